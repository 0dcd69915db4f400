//! `uni1 admin …`: operator tasks run from the command line.

use anyhow::{anyhow, bail, Context as _};
use uni1_domain::accounts::{AccountError, AccountPolicy, Accounts, Role};
use uni1_domain::mail::MailContext;
use uni1_domain::sea_orm::DatabaseConnection;

use crate::config::AdminCommand;

fn role(name: &str) -> anyhow::Result<Role> {
    Role::parse(name).ok_or_else(|| anyhow!("unknown role {name:?}: use user, support or admin"))
}

fn explain(err: AccountError) -> anyhow::Error {
    match err {
        AccountError::Invalid { field, message } => anyhow!("{field}: {message}"),
        AccountError::NotFound => anyhow!("no account has that e-mail address"),
        AccountError::Unexpected(e) => anyhow::Error::new(e),
        other => anyhow!("{other}"),
    }
}

/// Runs an admin command; `password` is the new account's password, read
/// by the caller from the environment or standard input.
pub async fn run(
    db: DatabaseConnection,
    key: uni1_domain::support::crypto::AppKey,
    command: AdminCommand,
    password: Option<String>,
) -> anyhow::Result<String> {
    let accounts = Accounts::new(
        db.clone(),
        AccountPolicy::default(),
        MailContext {
            base_url: String::new(),
            operator_name: String::new(),
            operator_email: String::new(),
        },
        key,
    );
    match command {
        AdminCommand::CreateUser {
            email,
            name,
            role: r,
            ..
        } => {
            let role = role(&r)?;
            let Some(password) = password else {
                bail!("give the password in UNI1_NEW_USER_PASSWORD or on standard input with --password-stdin");
            };
            let id = accounts
                .create_by_operator(&email, &name, &password, role)
                .await
                .map_err(explain)?;
            Ok(format!("created {} account {email} ({id})", role.as_str()))
        }
        AdminCommand::SetRole { email, role: r } => {
            let role = role(&r)?;
            let mut tries = 0;
            loop {
                match accounts.set_role(&email, role).await {
                    Ok(()) => break,
                    // SQLite next to a running server: a transaction that
                    // read before the server wrote cannot write (no busy
                    // wait applies). Nothing was changed: try again.
                    Err(AccountError::Unexpected(e))
                        if tries < 20 && format!("{e:?}").contains("database is locked") =>
                    {
                        tries += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(100 * tries)).await;
                    }
                    Err(e) => return Err(explain(e)),
                }
            }
            Ok(format!("{email} is now {}", role.as_str()))
        }
        AdminCommand::RebuildVariants { .. } => {
            bail!("rebuild-variants needs the object store: run it with `uni1 admin rebuild-variants`")
        }
        AdminCommand::TrainingExport => training_export(&db).await,
        AdminCommand::Analytics { days, json } => analytics(db, days, json).await,
        AdminCommand::Announce {
            kind,
            subject,
            body_file,
        } => announce(&db, &kind, &subject, &body_file).await,
    }
}

/// `uni1 admin analytics`: aggregates of the last `days` days.
async fn analytics(db: DatabaseConnection, days: u32, json: bool) -> anyhow::Result<String> {
    let summary = uni1_domain::analytics::Analytics::new(db)
        .summary(days, chrono::Utc::now())
        .await
        .context("cannot read the analytics")?;
    let pairs = |v: &[(String, u64)]| {
        v.iter()
            .map(|(k, n)| serde_json::json!({ "key": k, "count": n }))
            .collect::<Vec<_>>()
    };
    if json {
        let value = serde_json::json!({
            "days": summary.days.iter().map(|d| serde_json::json!({
                "day": d.day.to_string(),
                "pageviews": d.pageviews,
                "visitors": d.visitors,
                "events": d.events.iter().map(|(k, n)| (k.clone(), serde_json::json!(n))).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
            "top_pages": pairs(&summary.top_pages),
            "top_referrers": pairs(&summary.top_referrers),
            "devices": pairs(&summary.devices),
        });
        return Ok(serde_json::to_string_pretty(&value)?);
    }
    let mut out = format!(
        "{:<10}  {:>9}  {:>8}  {:>7}  {:>10}  {:>9}\n",
        "day", "pageviews", "visitors", "signups", "generations", "purchases"
    );
    let event = |d: &uni1_domain::analytics::Day, kind: uni1_domain::analytics::EventKind| {
        d.events
            .iter()
            .find(|(k, _)| k == kind.as_str())
            .map_or(0, |(_, n)| *n)
    };
    use uni1_domain::analytics::EventKind;
    for d in &summary.days {
        out.push_str(&format!(
            "{:<10}  {:>9}  {:>8}  {:>7}  {:>10}  {:>9}\n",
            d.day,
            d.pageviews,
            d.visitors,
            event(d, EventKind::SignUp),
            event(d, EventKind::GenerationSubmitted),
            event(d, EventKind::Purchase),
        ));
    }
    for (title, rows) in [
        ("top pages", &summary.top_pages),
        ("top referrers", &summary.top_referrers),
        ("devices", &summary.devices),
    ] {
        out.push_str(&format!("\n{title}:\n"));
        if rows.is_empty() {
            out.push_str("  (none)\n");
        }
        for (k, n) in rows.iter() {
            out.push_str(&format!("  {n:>8}  {k}\n"));
        }
    }
    Ok(out.trim_end().to_owned())
}

/// `uni1 admin announce`: records the announcement; the running servers
/// queue its mails (MAIL-3).
pub async fn announce(
    db: &DatabaseConnection,
    kind: &str,
    subject: &str,
    body_file: &std::path::Path,
) -> anyhow::Result<String> {
    use uni1_domain::mail::announcements::{self, AnnounceError, Kind};
    let kind = Kind::parse(kind)
        .ok_or_else(|| anyhow!("unknown kind {kind:?}: use service, policy or marketing"))?;
    let body = std::fs::read_to_string(body_file)
        .with_context(|| format!("cannot read {}", body_file.display()))?;
    let id = announcements::create(db, kind, subject, &body, chrono::Utc::now())
        .await
        .map_err(|e| match e {
            AnnounceError::Invalid(why) => anyhow!("{why}"),
            AnnounceError::Unexpected(e) => anyhow::Error::new(e),
        })?;
    Ok(format!(
        "announcement {id} ({}) recorded; the running servers queue its mails (UNI1_ANNOUNCEMENT_MAILS_PER_MINUTE a minute)",
        kind.as_str()
    ))
}

/// `uni1 admin training-export`: the training-eligible images as JSON lines.
async fn training_export(db: &DatabaseConnection) -> anyhow::Result<String> {
    let rows = uni1_domain::privacy::choices::training_eligible(db)
        .await
        .context("cannot read the training consents")?;
    let lines: Vec<String> = rows
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "image_id": r.image_id,
                "owner_id": r.owner,
                "prompt": r.prompt,
                "original_path": r.original_path,
                "created_at": r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "consent_version": r.consent_version,
            })
            .to_string()
        })
        .collect();
    Ok(lines.join("\n"))
}

/// `uni1 admin rebuild-variants`: previews and thumbnails of older images
/// made again with the current encoder; progress on standard error.
pub async fn rebuild_variants(
    settings: crate::config::WorkerSettings,
    batch: u64,
) -> anyhow::Result<String> {
    let db = crate::startup::open_database(&settings.database).await?;
    let key = crate::app_key(settings.app_key.as_ref(), &settings.data_dir)?;
    let blobs = crate::generation::blobs(&settings.generation, &key)?;
    let report =
        uni1_domain::generation::variants::rebuild_display_variants(&db, &blobs, batch, |r| {
            eprintln!(
                "rebuilt {} images so far ({} failed, {} deleted meanwhile)",
                r.rebuilt, r.failed, r.gone
            );
        })
        .await
        .context("rebuilding previews stopped; run the command again to continue")?;
    db.close().await.ok();
    let kib = |b: u64| b.div_ceil(1024);
    let mut message = format!(
        "rebuilt the previews and thumbnails of {} images: {} KiB before, {} KiB after",
        report.rebuilt,
        kib(report.bytes_before),
        kib(report.bytes_after)
    );
    if report.failed > 0 {
        message.push_str(&format!(
            "; {} images could not be read and were left as they were (see the log; run again to retry)",
            report.failed
        ));
    }
    Ok(message)
}

/// The password for `create-user`, from stdin (with the flag) or the environment.
pub fn read_password(command: &AdminCommand) -> anyhow::Result<Option<String>> {
    let AdminCommand::CreateUser { password_stdin, .. } = command else {
        return Ok(None);
    };
    if *password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        return Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()));
    }
    Ok(std::env::var("UNI1_NEW_USER_PASSWORD").ok())
}
