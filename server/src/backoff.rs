//! Capped exponential backoff with jitter: how a failed feed is restarted
//! and how the bus client retries.

use std::time::Duration;

use rand::Rng;

/// Retry pacing.
#[derive(Clone, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    /// A run that lasted this long resets the backoff to `base`.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
            reset_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// Delay before restart number `attempt` (0-based): exponential, capped,
    /// with jitter in [50 %, 100 %] so many feeds do not retry in lockstep.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.min(16));
        exp.min(self.max).mul_f64(rng.random_range(0.5..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let backoff = Backoff::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let delays: Vec<_> = (0..12).map(|a| backoff.delay(a, &mut rng)).collect();
        for (attempt, delay) in delays.iter().enumerate() {
            let ceiling = backoff.base.saturating_mul(1 << attempt).min(backoff.max);
            assert!(
                *delay <= ceiling && *delay >= ceiling / 2,
                "attempt {attempt}: {delay:?}"
            );
        }
        assert!(delays[11] >= backoff.max / 2);
        let again: Vec<_> = (0..12).map(|_| backoff.delay(3, &mut rng)).collect();
        assert!(
            again.windows(2).any(|w| w[0] != w[1]),
            "jitter must vary the delay"
        );
    }
}
