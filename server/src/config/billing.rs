//! Billing settings: the Stripe keys (variables or flags) and the credit
//! packs and plans on sale (`[[packs]]` and `[[plans]]` in the config
//! file). With no provider
//! configured the product runs as before (the sign-up grant stays) and the
//! pricing page says that payments are not set up.

use clap::Args;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use uni1_domain::billing::catalog::{Catalogue, Interval, Pack, Plan};

use super::{invalid, pair, ConfigError};

/// Billing settings given by flags, variables or the file.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(default)]
pub struct BillingArgs {
    /// Stripe secret key (`sk_live_…`, `sk_test_…` or a restricted
    /// `rk_…`); with the webhook secret, turns on payments through Stripe
    /// [default: none]
    #[arg(
        long,
        env = "UNI1_STRIPE_SECRET_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub stripe_secret_key: Option<String>,

    /// Signing secret (`whsec_…`) of the webhook endpoint registered at
    /// Stripe for `<public URL>/hooks/stripe` [default: none]
    #[arg(
        long,
        env = "UNI1_STRIPE_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub stripe_webhook_secret: Option<String>,

    /// Base URL of Stripe's API; only for a test double such as
    /// `uni1 payment-fake` [default: https://api.stripe.com/]
    #[arg(long, env = "UNI1_STRIPE_API_URL", value_name = "URL")]
    pub stripe_api_url: Option<String>,

    /// Let Stripe Tax compute and collect tax on checkouts (needs Stripe
    /// Tax set up in the Stripe account) [default: false]
    #[arg(long, env = "UNI1_STRIPE_AUTOMATIC_TAX", value_name = "BOOL")]
    pub stripe_automatic_tax: Option<bool>,

    /// Creem API key (`creem_…`); with the webhook secret, turns on payments
    /// through Creem [default: none]
    #[arg(
        long,
        env = "UNI1_CREEM_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub creem_api_key: Option<String>,

    /// Signing secret of the webhook registered at Creem for
    /// `<public URL>/hooks/creem` [default: none]
    #[arg(
        long,
        env = "UNI1_CREEM_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub creem_webhook_secret: Option<String>,

    /// Use Creem's test mode (https://test-api.creem.io) [default: false]
    #[arg(long, env = "UNI1_CREEM_TEST_MODE", value_name = "BOOL")]
    pub creem_test_mode: Option<bool>,

    /// Base URL of Creem's API; only for a test double such as
    /// `uni1 payment-fake` [default: https://api.creem.io/]
    #[arg(long, env = "UNI1_CREEM_API_URL", value_name = "URL")]
    pub creem_api_url: Option<String>,
}

/// One `[[packs]]` entry of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackFileEntry {
    pub id: String,
    pub name: String,
    pub credits: i64,
    /// In the currency's minor unit (500 = $5.00).
    pub price: i64,
    /// ISO 4217 code, e.g. `usd`.
    pub currency: String,
    /// Stripe's price id (`price_…`) of this pack.
    #[serde(default)]
    pub stripe_price: Option<String>,
    /// Creem's product id (`prod_…`) of this pack.
    #[serde(default)]
    pub creem_product: Option<String>,
}

/// One `[[plans]]` entry of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFileEntry {
    pub id: String,
    pub name: String,
    /// Granted each period.
    pub credits: i64,
    /// Per period, in the currency's minor unit (1000 = 10.00).
    pub price: i64,
    /// ISO 4217 code, e.g. `usd`.
    pub currency: String,
    /// `month` or `year`.
    pub interval: String,
    /// Unused credits carry over instead of expiring at the period's end.
    #[serde(default)]
    pub rollover: bool,
    /// Stripe's recurring price id (`price_…`) of this plan.
    #[serde(default)]
    pub stripe_price: Option<String>,
    /// Creem's recurring product id (`prod_…`) of this plan.
    #[serde(default)]
    pub creem_product: Option<String>,
}

/// Stripe, configured.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub secret_key: SecretString,
    pub webhook_secret: SecretString,
    pub api_url: Option<String>,
    pub automatic_tax: bool,
}

/// Creem, configured.
#[derive(Debug, Clone)]
pub struct CreemConfig {
    pub api_key: SecretString,
    pub webhook_secret: SecretString,
    /// Ends with `/`.
    pub api_url: String,
    /// A test double's URL was given (its own checkout pages).
    pub custom_url: bool,
}

/// Billing settings, validated.
#[derive(Debug, Clone, Default)]
pub struct BillingSettings {
    pub stripe: Option<StripeConfig>,
    pub creem: Option<CreemConfig>,
    pub catalogue: Catalogue,
}

impl BillingSettings {
    /// The origin of the provider's hosted checkout pages, which the
    /// buy forms redirect to (the pages' CSP `form-action` allows it):
    /// Stripe's, or a test double's own.
    pub fn checkout_origin(&self) -> Option<String> {
        let origin = |url: &str| {
            url::Url::parse(url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default()
        };
        let stripe = self.stripe.as_ref().map(|s| match &s.api_url {
            Some(url) => origin(url),
            None => "https://checkout.stripe.com".to_owned(),
        });
        let creem = self.creem.as_ref().map(|c| {
            if c.custom_url {
                origin(&c.api_url)
            } else {
                "https://checkout.creem.io".to_owned()
            }
        });
        let mut all: Vec<String> = stripe.into_iter().chain(creem).collect();
        all.dedup();
        (!all.is_empty()).then(|| all.join(" "))
    }

    pub(super) fn resolve(
        args: BillingArgs,
        packs: Option<Vec<PackFileEntry>>,
        plans: Option<Vec<PlanFileEntry>>,
    ) -> Result<Self, ConfigError> {
        let stripe = match pair(
            ("UNI1_STRIPE_SECRET_KEY", args.stripe_secret_key),
            ("UNI1_STRIPE_WEBHOOK_SECRET", args.stripe_webhook_secret),
        )? {
            None => {
                if args.stripe_api_url.is_some() {
                    return Err(invalid(
                        "UNI1_STRIPE_API_URL",
                        "only applies with UNI1_STRIPE_SECRET_KEY and UNI1_STRIPE_WEBHOOK_SECRET",
                    ));
                }
                None
            }
            Some((key, webhook)) => {
                let key = SecretString::from(key.trim().to_owned());
                let webhook = SecretString::from(webhook.trim().to_owned());
                if !["sk_", "rk_"]
                    .iter()
                    .any(|p| key.expose_secret().starts_with(p))
                {
                    return Err(invalid(
                        "UNI1_STRIPE_SECRET_KEY",
                        "must be a Stripe secret key (sk_… or rk_…); the value is not shown",
                    ));
                }
                if !webhook.expose_secret().starts_with("whsec_") {
                    return Err(invalid(
                        "UNI1_STRIPE_WEBHOOK_SECRET",
                        "must be the endpoint's signing secret (whsec_…); the value is not shown",
                    ));
                }
                // async-stripe appends `v1/…` to the base.
                let api_url = args
                    .stripe_api_url
                    .map(|raw| http_base("UNI1_STRIPE_API_URL", &raw))
                    .transpose()?;
                Some(StripeConfig {
                    secret_key: key,
                    webhook_secret: webhook,
                    api_url,
                    automatic_tax: args.stripe_automatic_tax.unwrap_or(false),
                })
            }
        };
        let creem = match pair(
            ("UNI1_CREEM_API_KEY", args.creem_api_key),
            ("UNI1_CREEM_WEBHOOK_SECRET", args.creem_webhook_secret),
        )? {
            None => {
                if args.creem_api_url.is_some() || args.creem_test_mode.is_some() {
                    return Err(invalid(
                        "UNI1_CREEM_API_URL",
                        "UNI1_CREEM_API_URL and UNI1_CREEM_TEST_MODE only apply with UNI1_CREEM_API_KEY and UNI1_CREEM_WEBHOOK_SECRET",
                    ));
                }
                None
            }
            Some((key, webhook)) => {
                let key = SecretString::from(key.trim().to_owned());
                if key.expose_secret().len() < 8
                    || key.expose_secret().contains(char::is_whitespace)
                {
                    return Err(invalid(
                        "UNI1_CREEM_API_KEY",
                        "must be the API key from Creem's dashboard; the value is not shown",
                    ));
                }
                let (api_url, custom_url) = match (args.creem_api_url, args.creem_test_mode) {
                    (Some(raw), _) => (http_base("UNI1_CREEM_API_URL", &raw)?, true),
                    (None, Some(true)) => (uni1_payments::creem::TEST_API_BASE.to_owned(), false),
                    (None, _) => (uni1_payments::creem::DEFAULT_API_BASE.to_owned(), false),
                };
                Some(CreemConfig {
                    api_key: key,
                    webhook_secret: SecretString::from(webhook.trim().to_owned()),
                    api_url,
                    custom_url,
                })
            }
        };
        let mut catalogue = Catalogue::default();
        for p in packs.unwrap_or_default() {
            let c = common(
                &PACK_KEYS,
                Fields {
                    id: &p.id,
                    name: &p.name,
                    credits: p.credits,
                    price: p.price,
                    currency: &p.currency,
                    stripe_price: p.stripe_price.as_deref(),
                    creem_product: p.creem_product.as_deref(),
                },
                &catalogue,
            )?;
            catalogue.packs.push(Pack {
                id: p.id,
                name: c.name,
                credits: p.credits,
                amount: p.price,
                currency: c.currency,
                stripe_price: p.stripe_price,
                creem_product: p.creem_product,
            });
        }
        for p in plans.unwrap_or_default() {
            let c = common(
                &PLAN_KEYS,
                Fields {
                    id: &p.id,
                    name: &p.name,
                    credits: p.credits,
                    price: p.price,
                    currency: &p.currency,
                    stripe_price: p.stripe_price.as_deref(),
                    creem_product: p.creem_product.as_deref(),
                },
                &catalogue,
            )?;
            let interval = match p.interval.trim() {
                "month" => Interval::Month,
                "year" => Interval::Year,
                other => {
                    return Err(invalid(
                        "plans.interval",
                        format!("plan {:?}: {other:?} must be month or year", p.id),
                    ))
                }
            };
            let price_twice = p.stripe_price.is_some()
                && catalogue
                    .packs
                    .iter()
                    .map(|x| &x.stripe_price)
                    .chain(catalogue.plans.iter().map(|x| &x.stripe_price))
                    .any(|x| *x == p.stripe_price);
            if price_twice {
                return Err(invalid(
                    "plans.stripe_price",
                    format!("plan {:?}: another pack or plan has this price", p.id),
                ));
            }
            catalogue.plans.push(Plan {
                id: p.id,
                name: c.name,
                credits: p.credits,
                amount: p.price,
                currency: c.currency,
                interval,
                rollover: p.rollover,
                stripe_price: p.stripe_price,
                creem_product: p.creem_product,
            });
        }
        Ok(Self {
            stripe,
            creem,
            catalogue,
        })
    }
}

/// An http(s) API base URL, ending with `/`.
fn http_base(setting: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| invalid(setting, format!("{raw:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(setting, format!("{raw:?} must be an http(s) URL")));
    }
    let mut text = url.to_string();
    if !text.ends_with('/') {
        text.push('/');
    }
    Ok(text)
}

/// What packs and plans both have.
struct Fields<'a> {
    id: &'a str,
    name: &'a str,
    credits: i64,
    price: i64,
    currency: &'a str,
    stripe_price: Option<&'a str>,
    creem_product: Option<&'a str>,
}

/// A pack's or plan's fields, checked: the trimmed name and the
/// lower-case currency.
struct Checked {
    name: String,
    currency: String,
}

/// The setting names errors use, per list.
struct Keys {
    what: &'static str,
    id: &'static str,
    name: &'static str,
    credits: &'static str,
    price: &'static str,
    currency: &'static str,
    stripe_price: &'static str,
    creem_product: &'static str,
}

const PACK_KEYS: Keys = Keys {
    what: "pack",
    id: "packs.id",
    name: "packs.name",
    credits: "packs.credits",
    price: "packs.price",
    currency: "packs.currency",
    stripe_price: "packs.stripe_price",
    creem_product: "packs.creem_product",
};

const PLAN_KEYS: Keys = Keys {
    what: "plan",
    id: "plans.id",
    name: "plans.name",
    credits: "plans.credits",
    price: "plans.price",
    currency: "plans.currency",
    stripe_price: "plans.stripe_price",
    creem_product: "plans.creem_product",
};

fn common(keys: &Keys, p: Fields<'_>, so_far: &Catalogue) -> Result<Checked, ConfigError> {
    let what = keys.what;
    let id_ok = !p.id.is_empty()
        && p.id.len() <= 40
        && p.id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !id_ok {
        return Err(invalid(
            keys.id,
            format!("{:?} must be 1 to 40 of a-z, 0-9 and -", p.id),
        ));
    }
    if so_far.pack(p.id).is_some() || so_far.plan(p.id).is_some() {
        return Err(invalid(keys.id, format!("{:?} is listed twice", p.id)));
    }
    let name = p.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(invalid(
            keys.name,
            format!("{what} {:?}: must be 1 to 100 characters", p.id),
        ));
    }
    if !(1..=1_000_000).contains(&p.credits) {
        return Err(invalid(
            keys.credits,
            format!("{what} {:?}: must be 1 to 1000000", p.id),
        ));
    }
    if !(1..=100_000_000).contains(&p.price) {
        return Err(invalid(
            keys.price,
            format!(
                "{what} {:?}: must be 1 to 100000000, in the currency's minor unit (500 = 5.00)",
                p.id
            ),
        ));
    }
    let currency = p.currency.trim().to_ascii_lowercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(invalid(
            keys.currency,
            format!(
                "{what} {:?}: {:?} is not an ISO 4217 code such as usd",
                p.id, p.currency
            ),
        ));
    }
    if let Some(price) = p.stripe_price {
        if !price.starts_with("price_") || price.len() > 255 {
            return Err(invalid(
                keys.stripe_price,
                format!("{what} {:?}: must be a Stripe price id (price_…)", p.id),
            ));
        }
    }
    if let Some(product) = p.creem_product {
        let taken = so_far
            .packs
            .iter()
            .map(|x| &x.creem_product)
            .chain(so_far.plans.iter().map(|x| &x.creem_product))
            .any(|x| x.as_deref() == Some(product));
        if !product.starts_with("prod_") || product.len() > 255 || taken {
            return Err(invalid(
                keys.creem_product,
                format!(
                    "{what} {:?}: must be a Creem product id (prod_…) that no other pack or plan has",
                    p.id
                ),
            ));
        }
    }
    Ok(Checked {
        name: name.to_owned(),
        currency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> PackFileEntry {
        PackFileEntry {
            id: id.into(),
            name: "Starter".into(),
            credits: 100,
            price: 500,
            currency: "USD".into(),
            stripe_price: Some("price_123".into()),
            creem_product: None,
        }
    }

    #[test]
    fn packs_are_checked_and_named_in_errors() {
        let ok =
            BillingSettings::resolve(BillingArgs::default(), Some(vec![entry("starter")]), None)
                .unwrap();
        assert_eq!(ok.catalogue.packs[0].currency, "usd");
        assert!(ok.stripe.is_none());
        let twice = BillingSettings::resolve(
            BillingArgs::default(),
            Some(vec![entry("a"), entry("a")]),
            None,
        );
        assert!(twice.unwrap_err().to_string().contains("listed twice"));
        let mut bad = entry("b");
        bad.price = 0;
        let e =
            BillingSettings::resolve(BillingArgs::default(), Some(vec![bad]), None).unwrap_err();
        assert!(e.to_string().contains("packs.price"), "{e}");
        let mut bad = entry("Bad Id");
        bad.credits = 5;
        let e =
            BillingSettings::resolve(BillingArgs::default(), Some(vec![bad]), None).unwrap_err();
        assert!(e.to_string().contains("packs.id"), "{e}");
    }

    #[test]
    fn plans_are_checked_and_share_ids_with_packs() {
        let plan = |id: &str, interval: &str, price: &str| PlanFileEntry {
            id: id.into(),
            name: "Pro".into(),
            credits: 500,
            price: 1000,
            currency: "usd".into(),
            interval: interval.into(),
            rollover: false,
            stripe_price: Some(price.into()),
            creem_product: None,
        };
        let ok = BillingSettings::resolve(
            BillingArgs::default(),
            Some(vec![entry("starter")]),
            Some(vec![plan("pro", "month", "price_pro")]),
        )
        .unwrap();
        assert_eq!(ok.catalogue.plans[0].interval, Interval::Month);
        let clash = BillingSettings::resolve(
            BillingArgs::default(),
            Some(vec![entry("pro")]),
            Some(vec![plan("pro", "month", "price_pro")]),
        );
        assert!(clash.unwrap_err().to_string().contains("plans.id"));
        let e = BillingSettings::resolve(
            BillingArgs::default(),
            None,
            Some(vec![plan("pro", "week", "price_pro")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("plans.interval"), "{e}");
        let e = BillingSettings::resolve(
            BillingArgs::default(),
            Some(vec![entry("starter")]),
            Some(vec![plan("pro", "month", "price_123")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("plans.stripe_price"), "{e}");
    }

    #[test]
    fn creem_needs_both_secrets_and_picks_its_test_mode() {
        let half = BillingArgs {
            creem_api_key: Some("creem_test_abcdef".into()),
            ..BillingArgs::default()
        };
        let e = BillingSettings::resolve(half, None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("UNI1_CREEM_WEBHOOK_SECRET"), "{e}");
        let test = BillingArgs {
            creem_api_key: Some("creem_test_abcdef".into()),
            creem_webhook_secret: Some("whsec_creem".into()),
            creem_test_mode: Some(true),
            stripe_secret_key: Some("sk_test_abc".into()),
            stripe_webhook_secret: Some("whsec_abc".into()),
            ..BillingArgs::default()
        };
        let s = BillingSettings::resolve(test, None, None).unwrap();
        let creem = s.creem.as_ref().unwrap();
        assert_eq!(creem.api_url, "https://test-api.creem.io/");
        assert!(!format!("{creem:?}").contains("creem_test_abcdef"));
        assert_eq!(
            s.checkout_origin().as_deref(),
            Some("https://checkout.stripe.com https://checkout.creem.io")
        );
        let mut pack = entry("a");
        pack.creem_product = Some("price_nope".into());
        let e = BillingSettings::resolve(BillingArgs::default(), Some(vec![pack]), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("packs.creem_product"), "{e}");
    }

    #[test]
    fn stripe_needs_both_secrets_of_the_right_kind_and_never_shows_them() {
        let half = BillingArgs {
            stripe_secret_key: Some("sk_test_abc".into()),
            ..BillingArgs::default()
        };
        let e = BillingSettings::resolve(half, None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("UNI1_STRIPE_WEBHOOK_SECRET"), "{e}");
        let swapped = BillingArgs {
            stripe_secret_key: Some("whsec_oops".into()),
            stripe_webhook_secret: Some("sk_test_abc".into()),
            ..BillingArgs::default()
        };
        let e = BillingSettings::resolve(swapped, None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("UNI1_STRIPE_SECRET_KEY") && !e.contains("oops"),
            "{e}"
        );
        let ok = BillingArgs {
            stripe_secret_key: Some("sk_test_abc".into()),
            stripe_webhook_secret: Some("whsec_abc".into()),
            stripe_api_url: Some("http://127.0.0.1:4010".into()),
            ..BillingArgs::default()
        };
        let s = BillingSettings::resolve(ok, None, None).unwrap();
        let stripe = s.stripe.unwrap();
        assert_eq!(stripe.api_url.as_deref(), Some("http://127.0.0.1:4010/"));
        assert!(!format!("{stripe:?}").contains("sk_test_abc"));
    }
}
