//! The simulator's default instruments: large US equities with a plausible
//! reference price and volatility, and synthetic ones for bigger workloads.

use std::borrow::Cow;

/// One instrument the simulator can trade.
#[derive(Clone, Debug, PartialEq)]
pub struct Instrument {
    pub symbol: Cow<'static, str>,
    pub name: Cow<'static, str>,
    /// Previous close in USD, the walk's starting point.
    pub price: f64,
    /// Annualised volatility (0.3 = 30 %).
    pub volatility: f64,
}

const fn eq(symbol: &'static str, name: &'static str, price: f64, volatility: f64) -> Instrument {
    Instrument {
        symbol: Cow::Borrowed(symbol),
        name: Cow::Borrowed(name),
        price,
        volatility,
    }
}

/// The default list, in the order the dashboard shows it.
pub const DEFAULT_INSTRUMENTS: &[Instrument] = &[
    eq("AAPL", "Apple Inc.", 228.52, 0.26),
    eq("MSFT", "Microsoft Corporation", 415.10, 0.24),
    eq("NVDA", "NVIDIA Corporation", 134.81, 0.52),
    eq("AMZN", "Amazon.com, Inc.", 197.93, 0.32),
    eq("GOOGL", "Alphabet Inc. Class A", 175.36, 0.30),
    eq("META", "Meta Platforms, Inc.", 563.09, 0.38),
    eq("TSLA", "Tesla, Inc.", 251.44, 0.62),
    eq("BRK.B", "Berkshire Hathaway Inc. Class B", 459.87, 0.16),
    eq("JPM", "JPMorgan Chase & Co.", 224.61, 0.22),
    eq("V", "Visa Inc.", 289.75, 0.19),
    eq("UNH", "UnitedHealth Group Incorporated", 561.20, 0.27),
    eq("XOM", "Exxon Mobil Corporation", 118.32, 0.24),
    eq("JNJ", "Johnson & Johnson", 157.88, 0.16),
    eq("WMT", "Walmart Inc.", 82.15, 0.18),
    eq("MA", "Mastercard Incorporated", 509.44, 0.20),
    eq("PG", "The Procter & Gamble Company", 169.57, 0.15),
    eq("HD", "The Home Depot, Inc.", 401.26, 0.22),
    eq("AVGO", "Broadcom Inc.", 170.63, 0.48),
    eq("ORCL", "Oracle Corporation", 176.02, 0.34),
    eq("COST", "Costco Wholesale Corporation", 897.55, 0.20),
    eq("CVX", "Chevron Corporation", 154.71, 0.23),
    eq("KO", "The Coca-Cola Company", 67.93, 0.14),
    eq("PEP", "PepsiCo, Inc.", 165.24, 0.15),
    eq("ABBV", "AbbVie Inc.", 189.90, 0.24),
    eq("MRK", "Merck & Co., Inc.", 100.48, 0.22),
    eq("BAC", "Bank of America Corporation", 41.86, 0.27),
    eq("ADBE", "Adobe Inc.", 508.37, 0.35),
    eq("CRM", "Salesforce, Inc.", 289.12, 0.33),
    eq("NFLX", "Netflix, Inc.", 701.55, 0.38),
    eq("AMD", "Advanced Micro Devices, Inc.", 149.76, 0.50),
    eq("INTC", "Intel Corporation", 22.94, 0.45),
    eq("DIS", "The Walt Disney Company", 95.13, 0.26),
    eq("CSCO", "Cisco Systems, Inc.", 57.42, 0.20),
    eq("MCD", "McDonald's Corporation", 294.67, 0.17),
    eq("NKE", "NIKE, Inc.", 78.35, 0.30),
    eq("QCOM", "QUALCOMM Incorporated", 164.82, 0.36),
    eq("T", "AT&T Inc.", 22.41, 0.19),
    eq("PFE", "Pfizer Inc.", 28.37, 0.24),
    eq("BA", "The Boeing Company", 159.66, 0.36),
    eq(
        "IBM",
        "International Business Machines Corporation",
        221.03,
        0.21,
    ),
];

/// Exactly `n` instruments: the default list first, then synthetic ones
/// (`SYN041`, …) with prices and volatilities spread over plausible ranges.
pub fn instruments(n: usize) -> Vec<Instrument> {
    let synthetic = (DEFAULT_INSTRUMENTS.len() + 1..).map(|i| Instrument {
        symbol: Cow::Owned(format!("SYN{i:03}")),
        name: Cow::Owned(format!("Synthetic Holdings {i}")),
        price: 10.0 + ((i * 7919) % 49_000) as f64 / 100.0,
        volatility: 0.15 + ((i * 104_729) % 45) as f64 / 100.0,
    });
    DEFAULT_INSTRUMENTS
        .iter()
        .cloned()
        .chain(synthetic)
        .take(n)
        .collect()
}

/// Finds a default instrument by ticker (case-insensitive).
pub fn find(symbol: &str) -> Option<&'static Instrument> {
    DEFAULT_INSTRUMENTS
        .iter()
        .find(|i| i.symbol.eq_ignore_ascii_case(symbol))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn workloads_get_exactly_n_distinct_instruments() {
        let many = instruments(1_000);
        assert_eq!(many.len(), 1_000);
        assert_eq!(&many[..DEFAULT_INSTRUMENTS.len()], DEFAULT_INSTRUMENTS);
        assert_eq!(many[40].symbol, "SYN041");
        assert_eq!(
            many.iter().map(|i| &i.symbol).collect::<HashSet<_>>().len(),
            1_000
        );
        let synthetic = &many[DEFAULT_INSTRUMENTS.len()..];
        assert!(
            synthetic
                .iter()
                .all(|i| i.price >= 10.0 && i.price < 500.0 && i.volatility < 0.6)
        );
        assert_eq!(instruments(3).len(), 3);
    }

    #[test]
    fn default_list_is_large_unique_and_plausible() {
        assert!(DEFAULT_INSTRUMENTS.len() >= 30);
        let unique: HashSet<_> = DEFAULT_INSTRUMENTS.iter().map(|i| &i.symbol).collect();
        assert_eq!(unique.len(), DEFAULT_INSTRUMENTS.len());
        for i in DEFAULT_INSTRUMENTS {
            assert!(i.price > 1.0 && i.price < 10_000.0, "{}", i.symbol);
            assert!(i.volatility > 0.05 && i.volatility < 1.5, "{}", i.symbol);
            assert!(!i.name.is_empty());
        }
        assert_eq!(
            find("msft").map(|i| &*i.name),
            Some("Microsoft Corporation")
        );
    }
}
