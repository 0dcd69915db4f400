//! What can be bought: credit packs and plans from the config file, each
//! with its price and, per provider, the provider's price id.
//!
//! Credit rules: pack credits never expire. A plan grants its credits each
//! period, when the provider reports the period's invoice paid; unless the
//! plan rolls them over, what is left of them expires at the period's end.
//! Expiring credits are spent first.

/// A one-time pack of credits (pack credits never expire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pack {
    /// Stable id used in forms and orders, e.g. `starter`.
    pub id: String,
    pub name: String,
    pub credits: i64,
    /// In the currency's minor unit (cents).
    pub amount: i64,
    /// ISO 4217, lower case.
    pub currency: String,
    /// Stripe's price id; without it the pack cannot be bought through Stripe.
    pub stripe_price: Option<String>,
    /// Creem's product id (`prod_…`).
    pub creem_product: Option<String>,
}

/// How often a plan renews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Month,
    Year,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Month => "month",
            Interval::Year => "year",
        }
    }

    /// `monthly`, `yearly`
    pub fn adjective(self) -> &'static str {
        match self {
            Interval::Month => "monthly",
            Interval::Year => "yearly",
        }
    }

    /// A period's length when the provider does not say (31 or 366 days:
    /// never shorter than the real period).
    pub fn length(self) -> chrono::Duration {
        match self {
            Interval::Month => chrono::Duration::days(31),
            Interval::Year => chrono::Duration::days(366),
        }
    }
}

/// A subscription plan: a price per period and the credits each period
/// grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Stable id used in forms and orders, e.g. `pro-monthly`.
    pub id: String,
    pub name: String,
    /// Granted each period.
    pub credits: i64,
    /// Per period, in the currency's minor unit.
    pub amount: i64,
    /// ISO 4217, lower case.
    pub currency: String,
    pub interval: Interval,
    /// Unused credits carry over to the next period instead of expiring.
    pub rollover: bool,
    /// Stripe's recurring price id.
    pub stripe_price: Option<String>,
    /// Creem's recurring product id (`prod_…`).
    pub creem_product: Option<String>,
}

impl Plan {
    /// `$10.00 / month`
    pub fn price_label(&self) -> String {
        format!(
            "{} / {}",
            price_label(self.amount, &self.currency),
            self.interval.as_str()
        )
    }
}

/// Currencies without a minor unit (Stripe's zero-decimal list, the common ones).
const ZERO_DECIMAL: &[&str] = &["jpy", "krw", "vnd", "clp", "isk", "ugx", "xaf", "xof"];

impl Pack {
    /// The price as people read it: `$5.00`, `€12.50`, `¥500`, `5.00 CHF`.
    pub fn price_label(&self) -> String {
        price_label(self.amount, &self.currency)
    }
}

/// `amount` (minor units) of `currency` as people read it.
pub fn price_label(amount: i64, currency: &str) -> String {
    let currency = currency.to_ascii_lowercase();
    let number = if ZERO_DECIMAL.contains(&currency.as_str()) {
        amount.to_string()
    } else {
        format!("{}.{:02}", amount / 100, (amount % 100).abs())
    };
    match currency.as_str() {
        "usd" => format!("${number}"),
        "eur" => format!("€{number}"),
        "gbp" => format!("£{number}"),
        "jpy" => format!("¥{number}"),
        other => format!("{number} {}", other.to_ascii_uppercase()),
    }
}

/// An amount of `currency` as people type it (`4.99`, `5`, `500` for yen)
/// in minor units; `None` when it does not read as a positive amount.
pub fn parse_amount(text: &str, currency: &str) -> Option<i64> {
    let t = text.trim().trim_start_matches(['$', '€', '£', '¥']).trim();
    let zero = ZERO_DECIMAL.contains(&currency.to_ascii_lowercase().as_str());
    let (whole, cents) = match t.split_once('.') {
        Some(_) if zero => return None,
        Some((w, c)) if (1..=2).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()) => {
            (w, format!("{c:0<2}").parse::<i64>().ok()?)
        }
        Some(_) => return None,
        None => (t, 0),
    };
    if whole.is_empty() || whole.len() > 12 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let minor = if zero { whole } else { whole * 100 + cents };
    (minor > 0).then_some(minor)
}

/// Everything on sale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogue {
    pub packs: Vec<Pack>,
    pub plans: Vec<Plan>,
}

impl Catalogue {
    pub fn pack(&self, id: &str) -> Option<&Pack> {
        self.packs.iter().find(|p| p.id == id)
    }

    pub fn plan(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// The plan `provider` (`stripe`, `creem`) sells as `id` (its price
    /// or product id; after a plan change in the portal too).
    pub fn plan_sold_as(&self, provider: &str, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| {
            let theirs = match provider {
                "stripe" => &p.stripe_price,
                "creem" => &p.creem_product,
                _ => return false,
            };
            theirs.as_deref() == Some(id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_the_way_people_write_them() {
        assert_eq!(price_label(500, "usd"), "$5.00");
        assert_eq!(price_label(1250, "EUR"), "€12.50");
        assert_eq!(price_label(500, "jpy"), "¥500");
        assert_eq!(price_label(999, "chf"), "9.99 CHF");
        assert_eq!(price_label(5, "gbp"), "£0.05");
    }

    #[test]
    fn amounts_are_read_the_way_staff_type_them() {
        assert_eq!(parse_amount("4.99", "usd"), Some(499));
        assert_eq!(parse_amount(" $5 ", "usd"), Some(500));
        assert_eq!(parse_amount("0.5", "eur"), Some(50));
        assert_eq!(parse_amount("500", "jpy"), Some(500));
        for bad in ["", "0", "0.00", "-1", "1.999", "1,00", "abc", "5.0.0", "."] {
            assert_eq!(parse_amount(bad, "usd"), None, "{bad:?}");
        }
        assert_eq!(parse_amount("5.5", "jpy"), None);
    }
}
