//! The simulator's remote control (the control API's): pause, resume,
//! step, trade at a price, halt. Apart from the simulator so the feed
//! trait can name it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// How long a command waits for a running simulator.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Steps one request may ask for (at the default `--tick-ms`, 10 minutes).
pub const MAX_STEPS: u32 = 10_000;

/// The simulator's remote control: pause, resume, step, trade, halt. Cheap
/// to clone; a command waits until the simulator has handed the hub what
/// it did.
#[derive(Clone, Debug)]
pub struct SimRemote {
    commands: mpsc::Sender<Command>,
    paused: Arc<AtomicBool>,
    steps: Arc<AtomicU64>,
}

#[derive(Debug)]
pub(super) enum Command {
    Step(u32, oneshot::Sender<()>),
    Trade(Arc<str>, f64, f64, oneshot::Sender<bool>),
    Halt(Arc<str>, bool, oneshot::Sender<bool>),
}

impl Command {
    /// Its requester stopped waiting (asked while the simulator was down):
    /// doing it now would surprise everyone.
    pub(super) fn abandoned(&self) -> bool {
        match self {
            Command::Step(_, done) => done.is_closed(),
            Command::Trade(.., done) | Command::Halt(.., done) => done.is_closed(),
        }
    }
}

/// The simulator did not answer: it is not running (its feed failed or the
/// server is stopping).
#[derive(Debug, thiserror::Error)]
#[error("the simulator is not running")]
pub struct NotRunning;

impl SimRemote {
    /// Whether the walk waits for [`SimRemote::step`].
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    /// Steps taken since the start, paused or not.
    pub fn steps(&self) -> u64 {
        self.steps.load(Ordering::Relaxed)
    }

    /// Takes `n` steps of the walk now (at most [`MAX_STEPS`]).
    pub async fn step(&self, n: u32) -> Result<(), NotRunning> {
        let (done, answer) = oneshot::channel();
        self.ask(Command::Step(n.min(MAX_STEPS), done), answer)
            .await
    }

    /// Prints a trade of `size` at `price` in `symbol` now and walks on
    /// from that price; false if the simulator does not trade `symbol`.
    pub async fn trade(&self, symbol: &str, price: f64, size: f64) -> Result<bool, NotRunning> {
        let (done, answer) = oneshot::channel();
        let command = Command::Trade(symbol.into(), price, size, done);
        self.ask(command, answer).await
    }

    /// Halts `symbol` until told otherwise, or ends its halt; false if the
    /// simulator does not trade `symbol`.
    pub async fn halt(&self, symbol: &str, halted: bool) -> Result<bool, NotRunning> {
        let (done, answer) = oneshot::channel();
        self.ask(Command::Halt(symbol.into(), halted, done), answer)
            .await
    }

    /// Hands the simulator `command`; a simulator that does not answer
    /// within [`ANSWER_WITHIN`] is not running, and drops the command
    /// unanswered when it runs again.
    async fn ask<T>(
        &self,
        command: Command,
        answer: oneshot::Receiver<T>,
    ) -> Result<T, NotRunning> {
        let asked = async {
            self.commands.send(command).await.map_err(|_| NotRunning)?;
            answer.await.map_err(|_| NotRunning)
        };
        tokio::time::timeout(ANSWER_WITHIN, asked)
            .await
            .map_err(|_| NotRunning)?
    }
}

impl SimRemote {
    /// A remote (starting `paused` or not) and the simulator's end of it.
    pub(super) fn new(paused: bool) -> (SimRemote, mpsc::Receiver<Command>) {
        let (commands, rx) = mpsc::channel(16);
        let remote = SimRemote {
            commands,
            paused: Arc::new(AtomicBool::new(paused)),
            steps: Arc::default(),
        };
        (remote, rx)
    }

    /// Counts a step the walk took.
    pub(super) fn stepped(&self) {
        self.steps.fetch_add(1, Ordering::Relaxed);
    }
}
