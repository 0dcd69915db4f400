//! The composition root: every service is built here, once, from the
//! settings, and every process (`serve`, `worker`, `admin`), the HTTP tests
//! and the benchmarks start from it. To add a service: build it in
//! [`Services::build`], hand it to the state that needs it in
//! [`Services::router`], and to a background pass in
//! [`Services::background`] if it has periodic work.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use leptos::config::LeptosOptions;
use uni1_app::session::CookieSettings;
use uni1_app::site::SiteInfo;
use uni1_app::state::AppState;
use uni1_domain::accounts::{AccountPolicy, Accounts};
use uni1_domain::generation::{worker, Generations};
use uni1_domain::mail::MailContext;
use uni1_domain::sea_orm::DatabaseConnection;
use uni1_domain::support::crypto::AppKey;
use uni1_domain::support::rate_limit::RateLimits;
use uni1_models::predictions::Wakeups;

use crate::background::Background;
use crate::config::{DatabaseSettings, GenerationSettings, Settings};
use crate::http::{self, HttpPolicy, ServerState};

/// How often queued mail is sent.
pub const MAIL_INTERVAL: Duration = Duration::from_secs(2);

/// Connects to the database and brings its schema up to date.
pub async fn open_database(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    let db = crate::db::connect(settings)
        .await
        .context("cannot connect to the database (check DATABASE_URL)")?;
    crate::db::migrate(&db)
        .await
        .context("database migration failed")?;
    Ok(db)
}

/// The generation service, with the webhook wake-ups its models share.
pub fn generations(
    settings: &GenerationSettings,
    db: DatabaseConnection,
    key: &AppKey,
    public_origin: &str,
) -> anyhow::Result<(Generations, Wakeups)> {
    let wakeups = Wakeups::default();
    let gens = crate::generation::build(settings, db, key, public_origin, &wakeups)?;
    Ok((gens, wakeups))
}

/// Every service of a web process, built once.
#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub key: AppKey,
    pub mail: MailContext,
    pub accounts: Accounts,
    pub generations: Generations,
    pub wakeups: Wakeups,
    pub limits: Arc<RateLimits>,
    pub billing: uni1_domain::billing::Billing,
    pub privacy: uni1_domain::privacy::Privacy,
    pub consent: uni1_domain::consent::Consent,
    pub analytics: uni1_domain::analytics::Analytics,
    pub admin: uni1_domain::admin::Admin,
    /// People's outbound webhooks (endpoints, outbox, delivery).
    pub webhooks: uni1_domain::webhooks::Webhooks,
}

impl Services {
    /// Builds every service for `settings` on an open, migrated database.
    pub fn build(settings: &Settings, db: DatabaseConnection, key: AppKey) -> anyhow::Result<Self> {
        // The metrics recorder, before anything records.
        crate::metrics::handle();
        let mail = MailContext {
            base_url: settings.public_origin(),
            operator_name: settings.operator_name.clone(),
            operator_email: settings.operator_email.clone(),
        };
        let accounts = Accounts::new(
            db.clone(),
            AccountPolicy {
                session_idle: chrono::Duration::hours(settings.session_idle_hours.into()),
                session_max: chrono::Duration::hours(settings.session_max_hours.into()),
                ..AccountPolicy::default()
            },
            mail.clone(),
            key.clone(),
        );
        let (generations, wakeups) = generations(
            &settings.generation,
            db.clone(),
            &key,
            &settings.public_origin(),
        )?;
        let stripe = settings
            .billing
            .stripe
            .as_ref()
            .map(|s| {
                uni1_payments::Stripe::new(uni1_payments::StripeSettings {
                    secret_key: s.secret_key.clone(),
                    webhook_secret: s.webhook_secret.clone(),
                    api_base: s.api_url.clone(),
                    automatic_tax: s.automatic_tax,
                })
            })
            .transpose()
            .context("cannot set up Stripe")?;
        let creem = settings
            .billing
            .creem
            .as_ref()
            .map(|c| {
                uni1_payments::Creem::new(uni1_payments::CreemSettings {
                    api_key: c.api_key.clone(),
                    webhook_secret: c.webhook_secret.clone(),
                    api_base: c.api_url.clone(),
                })
            })
            .transpose()
            .context("cannot set up Creem")?;
        let billing = uni1_domain::billing::Billing::new(
            db.clone(),
            settings.billing.catalogue.clone(),
            stripe,
            creem,
            mail.clone(),
            key.clone(),
        );
        let privacy = uni1_domain::privacy::Privacy::new(
            db.clone(),
            generations.blobs.clone(),
            mail.clone(),
            key.clone(),
            accounts.clone(),
            billing.clone(),
            uni1_domain::privacy::PrivacyPolicy {
                deletion_grace: chrono::Duration::days(settings.deletion_grace_days.into()),
                ..Default::default()
            },
        );
        let webhooks = webhooks(&settings.generation, db.clone(), key.clone())?;
        // Rate limits are counted in the database: the same whatever the
        // number of processes.
        let limits = Arc::new(RateLimits::shared(db.clone(), &key));
        Ok(Self {
            webhooks,
            admin: uni1_domain::admin::Admin::new(
                db.clone(),
                mail.clone(),
                key.clone(),
                accounts.clone(),
            ),
            consent: uni1_domain::consent::Consent::new(db.clone()),
            analytics: uni1_domain::analytics::Analytics::new(db.clone()),
            privacy,
            billing,
            db,
            key,
            mail,
            accounts,
            generations,
            wakeups,
            limits,
        })
    }

    /// The HTTP application: pages, server functions and plain routes.
    pub fn router(&self, settings: &Settings, leptos: LeptosOptions) -> axum::Router {
        let cookie = CookieSettings::new(settings.is_https());
        let state = ServerState {
            leptos,
            app: AppState {
                db: self.db.clone(),
                site: SiteInfo {
                    operator_name: settings.operator_name.clone(),
                    operator_email: settings.operator_email.clone(),
                },
                accounts: self.accounts.clone(),
                limits: self.limits.clone(),
                cookie: cookie.clone(),
                providers: uni1_app::auth::SignInOptions {
                    google: settings.google.is_some(),
                    github: settings.github.is_some(),
                },
                generations: self.generations.clone(),
                gallery: uni1_domain::library::gallery::Gallery::new(self.db.clone()),
                collections: uni1_domain::library::collections::Collections::new(self.db.clone()),
                sharing: uni1_domain::library::sharing::Sharing::new(self.db.clone()),
                publishing: uni1_domain::library::publishing::Publishing::new(self.db.clone()),
                public_origin: settings.public_origin(),
                billing: self.billing.clone(),
                checkout_origin: settings.billing.checkout_origin(),
                privacy: self.privacy.clone(),
                processors: Arc::new(processors(settings)),
                consent: self.consent.clone(),
                analytics: self.analytics.clone(),
                admin: self.admin.clone(),
                api_keys: uni1_domain::developer::ApiKeys::new(self.db.clone())
                    .with_rate(settings.api_key_rate),
                api_media: uni1_domain::developer::MediaSigner::new(self.db.clone(), &self.key),
                webhooks: self.webhooks.clone(),
            },
        };
        let oauth = http::oauth::OAuth {
            google: settings.google.clone(),
            github: settings.github.clone(),
            public_origin: settings.public_origin(),
            accounts: self.accounts.clone(),
            cookie: cookie.clone(),
            http: http::oauth::OAuth::http_client()
                .expect("the HTTP client builds with static settings"),
            limits: self.limits.clone(),
            discovery: Arc::default(),
        };
        let policy = HttpPolicy {
            public_origin: settings.public_origin(),
            allowed_hosts: settings.allowed_hosts().into(),
            hsts: settings.is_https(),
            trust_proxy_headers: settings.trust_proxy_headers,
            trusted_proxy_hops: settings.trusted_proxy_hops,
            dev_outbox: settings.dev_outbox,
            session_cookie: cookie.name,
            metrics_token: settings.metrics_token.clone().map(Arc::new),
        };
        let webhooks = http::media::Webhooks::new(
            settings.generation.model_webhook_secret.clone(),
            self.wakeups.clone(),
            &self.generations.catalog,
        )
        .forwarding_through(self.db.clone());
        http::router(state, policy, oauth, webhooks)
    }

    /// The periodic work of a web process: mail delivery and its purge,
    /// the expiry reminders, generation-finished mails, announcements, and (with worker slots) the generation worker
    /// with its reaper and sweepers.
    pub fn background(&self, settings: &Settings) -> anyhow::Result<Background> {
        let mut tasks = Background::new();
        let transport = crate::mailers::from_settings(settings)?;
        let (db, key, from) = (
            self.db.clone(),
            self.key.clone(),
            settings.mail_from.clone(),
        );
        tasks.every("mail delivery", MAIL_INTERVAL, move || {
            let (db, key, transport, from) =
                (db.clone(), key.clone(), transport.clone(), from.clone());
            async move {
                uni1_domain::mail::delivery::deliver_pass(&db, &key, transport.as_ref(), &from)
                    .await
            }
        });
        let db = self.db.clone();
        tasks.every(
            "mail purge",
            uni1_domain::mail::delivery::PURGE_INTERVAL,
            move || {
                let db = db.clone();
                async move { uni1_domain::mail::delivery::purge_pass(&db).await }
            },
        );
        // The 7-day expiry reminders (STO-4). Every server runs them; an
        // image is claimed in the same transaction as its mail, so none is
        // sent twice.
        let (db, mail, key) = (self.db.clone(), self.mail.clone(), self.key.clone());
        tasks.every(
            "expiry reminders",
            uni1_domain::library::reminders::INTERVAL,
            move || {
                let (db, mail, key) = (db.clone(), mail.clone(), key.clone());
                async move { uni1_domain::library::reminders::pass(&db, &mail, &key).await }
            },
        );
        // "A generation finished while you were away" (MAIL-1): jobs a
        // worker (in any process) marked due get their mail here; each is
        // claimed in the transaction that queues it.
        let (db, mail, key) = (self.db.clone(), self.mail.clone(), self.key.clone());
        tasks.every(
            "generation mails",
            uni1_domain::mail::notices::INTERVAL,
            move || {
                let (db, mail, key) = (db.clone(), mail.clone(), key.clone());
                async move { uni1_domain::mail::notices::pass(&db, &mail, &key).await }
            },
        );
        // Announcements (MAIL-3): every server runs the sender; batches
        // move the announcement's cursor by compare-and-swap, so two
        // servers never queue a mail twice, and a restart resumes.
        let (db, mail, key) = (self.db.clone(), self.mail.clone(), self.key.clone());
        let pace = uni1_domain::mail::announcements::Pace {
            per_minute: settings.announcement_mails_per_minute,
            ..Default::default()
        };
        tasks.every(
            "announcements",
            uni1_domain::mail::announcements::INTERVAL,
            move || {
                let (db, mail, key) = (db.clone(), mail.clone(), key.clone());
                async move { uni1_domain::mail::announcements::pass(&db, &mail, &key, pace).await }
            },
        );
        // Plan credits whose period ended (PAY-3). Every server runs it;
        // each expiry is one ledger entry under a unique key.
        let db = self.db.clone();
        tasks.every(
            "credit expiry",
            uni1_domain::billing::credits::EXPIRY_INTERVAL,
            move || {
                let db = db.clone();
                async move {
                    if let Err(e) =
                        uni1_domain::billing::credits::expire_pass(&db, chrono::Utc::now()).await
                    {
                        tracing::error!(error = ?e, "credit expiry pass failed");
                    }
                }
            },
        );
        // The privacy center's work (PRV-2, PRV-3): build queued exports,
        // delete expired ones, delete accounts whose grace period ended.
        // Every server runs it; each export and account is claimed first.
        let privacy = self.privacy.clone();
        tasks.every("privacy", PRIVACY_INTERVAL, move || {
            let privacy = privacy.clone();
            async move { privacy_pass(&privacy).await }
        });
        // API idempotency keys older than 24 hours (issue 17).
        let db = self.db.clone();
        tasks.every(
            "api idempotency purge",
            uni1_domain::mail::delivery::PURGE_INTERVAL,
            move || {
                let db = db.clone();
                async move {
                    if let Err(e) = uni1_domain::developer::idempotency::purge_pass(&db).await {
                        tracing::error!(error = ?e, "purging API idempotency keys failed");
                    }
                }
            },
        );
        // Yesterday's analytics salt goes once the day is over (ANA-1):
        // from then on that day's visitors cannot be recognised.
        let analytics = self.analytics.clone();
        tasks.every("analytics salts", ANALYTICS_ROTATE_INTERVAL, move || {
            let analytics = analytics.clone();
            async move {
                if let Err(e) = analytics.rotate(chrono::Utc::now()).await {
                    tracing::error!(error = ?e, "deleting old analytics salts failed");
                }
            }
        });
        // Incident notifications a stopped server left unfinished (SEC-3).
        let admin = self.admin.clone();
        tasks.every(
            "incident notices",
            uni1_domain::admin::incidents::PASS_INTERVAL,
            move || {
                let admin = admin.clone();
                async move {
                    if let Err(e) = uni1_domain::admin::incidents::notify_pass(&admin).await {
                        tracing::error!(error = ?e, "continuing incident notifications failed");
                    }
                }
            },
        );
        // Histograms folded in between scrapes (ANA-2).
        tasks.every(
            "metrics upkeep",
            crate::metrics::UPKEEP_INTERVAL,
            || async {
                crate::metrics::handle().run_upkeep();
            },
        );
        // The staff dashboard's figures (ADM-1): today and yesterday again,
        // missing days of the last 30 once; upserts keyed by the day.
        let db = self.db.clone();
        tasks.every(
            "daily stats",
            uni1_domain::admin::stats::INTERVAL,
            move || {
                let db = db.clone();
                async move { uni1_domain::admin::stats::pass(&db).await }
            },
        );
        // Rate limit rows whose budget is full again (they mean the same as
        // no row).
        let db = self.db.clone();
        tasks.every(
            "rate limit purge",
            uni1_domain::support::limit_store::PURGE_INTERVAL,
            move || {
                let db = db.clone();
                async move { uni1_domain::support::limit_store::purge_pass(&db).await }
            },
        );
        with_notifications(&mut tasks, &self.generations, &self.wakeups);
        if settings.generation.worker_slots > 0 {
            with_worker(
                &mut tasks,
                &self.generations,
                worker::worker_id(),
                settings.generation.worker_slots,
            );
            with_webhooks(&mut tasks, &self.webhooks);
        }
        Ok(tasks)
    }
}

/// How long a stopping `uni1 serve` spends sending the mail still queued.
pub const MAIL_FLUSH: Duration = Duration::from_secs(10);

impl Services {
    /// Sends the mail that is due now, once, for at most [`MAIL_FLUSH`]: the
    /// last step of a shutdown, after the requests and jobs in flight
    /// (whatever is left is sent by another process, or at the next start).
    pub async fn flush_mail(&self, settings: &Settings) {
        let transport = match crate::mailers::from_settings(settings) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "mail not flushed at shutdown");
                return;
            }
        };
        let pass = uni1_domain::mail::delivery::deliver_pass(
            &self.db,
            &self.key,
            transport.as_ref(),
            &settings.mail_from,
        );
        if tokio::time::timeout(MAIL_FLUSH, pass).await.is_err() {
            tracing::warn!(
                "mail still queued at shutdown; another process or the next start sends it"
            );
        }
    }
}

/// How often past days' analytics salts are looked for.
pub const ANALYTICS_ROTATE_INTERVAL: Duration = Duration::from_secs(300);

/// How often exports and deletions are looked for.
pub const PRIVACY_INTERVAL: Duration = Duration::from_secs(10);

/// One round of the privacy center's background work.
pub async fn privacy_pass(privacy: &uni1_domain::privacy::Privacy) {
    use uni1_domain::privacy::{deletion, export};
    // Build every queued export, one after another.
    loop {
        match export::export_pass(privacy).await {
            Ok(true) => continue,
            Ok(false) => break,
            Err(e) => {
                tracing::error!(error = ?e, "export pass failed");
                break;
            }
        }
    }
    if let Err(e) = export::purge_pass(privacy).await {
        tracing::error!(error = ?e, "export purge failed");
    }
    if let Err(e) = deletion::deletion_pass(privacy).await {
        tracing::error!(error = ?e, "deletion pass failed");
    }
}

/// Who processes personal data for this site, from `settings` (PRV-6):
/// hosting and storage, mail, payment providers, sign-in providers and
/// outside model back-ends. Hosts only; never a credential.
pub fn processors(settings: &Settings) -> Vec<uni1_app::privacy::ProcessorDto> {
    let p = |name: String, role: &str| uni1_app::privacy::ProcessorDto {
        name,
        role: role.to_owned(),
    };
    let host = |url: &str| {
        url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "a configured service".to_owned())
    };
    let mut out = vec![p(
        settings.operator_name.clone(),
        "runs uni1 and its database on its own servers.",
    )];
    if let uni1_storage::StoreConfig::S3 {
        endpoint, bucket, ..
    } = &settings.generation.storage.config
    {
        out.push(p(
            format!(
                "Object storage ({})",
                endpoint
                    .as_deref()
                    .map_or_else(|| "Amazon S3".to_owned(), host)
            ),
            &format!("stores your images and uploads, encrypted before they leave our servers (bucket {bucket})."),
        ));
    }
    if let Some(smtp) = &settings.smtp_url {
        out.push(p(
            format!(
                "Mail delivery ({})",
                host(secrecy::ExposeSecret::expose_secret(smtp))
            ),
            "delivers the mails we send you: receives your address and the mail.",
        ));
    }
    if settings.billing.stripe.is_some() {
        out.push(p(
            "Stripe".into(),
            "takes payments: receives your address, payment details and what you buy.",
        ));
    }
    if settings.billing.creem.is_some() {
        out.push(p(
            "Creem".into(),
            "sells credits and plans as merchant of record: receives your address, payment details and what you buy.",
        ));
    }
    if settings.google.is_some() {
        out.push(p(
            "Google".into(),
            "signs you in if you choose \"Continue with Google\".",
        ));
    }
    if settings.github.is_some() {
        out.push(p(
            "GitHub".into(),
            "signs you in if you choose \"Continue with GitHub\".",
        ));
    }
    for m in &settings.generation.models {
        if m.backend != "builtin" && m.enabled {
            out.push(p(
                format!(
                    "Image model {} ({})",
                    m.name,
                    m.base_url.as_deref().map_or_else(|| "its provider".to_owned(), host)
                ),
                "generates images when you choose this model: receives your prompt, settings and reference image, never your name or address.",
            ));
        }
    }
    out
}

/// Adds the job notification listener (PostgreSQL `LISTEN`, one
/// connection per process; nothing on SQLite): wakes this process's worker
/// and progress streams when any process queues or changes a job, and the
/// job waiting for a provider's webhook that another process received.
pub fn with_notifications(tasks: &mut Background, gens: &Generations, wakeups: &Wakeups) {
    if !uni1_domain::generation::notify::available(&gens.db) {
        return;
    }
    let (g, w) = (gens.clone(), wakeups.clone());
    tasks.until_stopped("job notifications", move |stop| async move {
        uni1_domain::generation::notify::listen(g, w, stop).await;
    });
}

/// Adds the generation worker (`slots` jobs at once) and the queue's
/// reaper and sweepers (and the purge of refused outputs) to `tasks`.
pub fn with_worker(tasks: &mut Background, gens: &Generations, id: String, slots: usize) {
    let g = gens.clone();
    tasks.until_stopped("generation worker", move |stop| async move {
        worker::run(g, id, slots, stop).await;
    });
    let g = gens.clone();
    tasks.every("job reaper", worker::reap_interval(gens), move || {
        let g = g.clone();
        async move { worker::reap_pass(&g).await }
    });
    let g = gens.clone();
    tasks.every("sweepers", worker::SWEEP_INTERVAL, move || {
        let g = g.clone();
        async move { worker::sweep_pass(&g).await }
    });
    // Refused outputs kept for review: gone after the decision or 30 days.
    let g = gens.clone();
    let interval = uni1_domain::generation::output_check::PURGE_INTERVAL;
    tasks.every("refused outputs", interval, move || {
        let g = g.clone();
        async move { uni1_domain::generation::output_check::purge_pass(&g).await }
    });
}

/// People's outbound webhooks, with the outbound client the settings allow.
pub fn webhooks(
    settings: &GenerationSettings,
    db: DatabaseConnection,
    key: AppKey,
) -> anyhow::Result<uni1_domain::webhooks::Webhooks> {
    uni1_domain::webhooks::Webhooks::new(db, key, settings.webhooks_allow_loopback)
        .context("cannot set up the webhook client")
}

/// Adds webhook delivery and its purge to `tasks`: registered where the
/// generation worker runs (`uni1 serve` with worker slots, `uni1 worker`).
/// Each delivery is claimed with a lease, so any number of processes may
/// run it.
pub fn with_webhooks(tasks: &mut Background, hooks: &uni1_domain::webhooks::Webhooks) {
    use uni1_domain::webhooks::delivery;
    let h = hooks.clone();
    tasks.every("webhook delivery", delivery::INTERVAL, move || {
        let h = h.clone();
        async move { delivery::pass(&h).await }
    });
    let h = hooks.clone();
    tasks.every("webhook purge", delivery::PURGE_INTERVAL, move || {
        let h = h.clone();
        async move { delivery::purge_pass(&h).await }
    });
}
