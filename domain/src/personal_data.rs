//! The personal-data registry: every table and object prefix that holds a
//! person's data, the key that reaches it, and what deleting the account
//! does to it. Export and deletion (the privacy center) are built on this
//! list, and a test reads the migrated schema and fails when a table with
//! a person's id or an e-mail column is missing here, or when the database's
//! `ON DELETE` disagrees with what is written here.
//!
//! A new table or object prefix that holds personal data is added here in
//! the same commit as its migration.

/// What deleting the person's account does to their rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// The row is the person (`users`).
    IsThePerson,
    /// Rows go with the account (`ON DELETE CASCADE` on the key).
    Cascade,
    /// Rows stay without the person (`ON DELETE SET NULL` on the key), for
    /// the reason given.
    Anonymized(&'static str),
    /// Not tied to an account by a foreign key: reached by the key's value
    /// (an address) and removed by the retention rule given.
    ByValue(&'static str),
}

/// One table that holds a person's data.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    /// What it holds about the person.
    pub holds: &'static str,
    /// The column that reaches the person's rows.
    pub key: &'static str,
    pub on_delete: OnDelete,
}

/// Stored objects under a per-person prefix.
#[derive(Debug, Clone, Copy)]
pub struct Objects {
    /// The prefix, with `<user id>` for the person's id.
    pub prefix: &'static str,
    pub holds: &'static str,
    /// How deletion reaches them.
    pub on_delete: &'static str,
}

const CASCADE: OnDelete = OnDelete::Cascade;

/// Every table that holds a person's data.
pub const TABLES: &[Table] = &[
    Table { name: "users", holds: "e-mail, display name, picture URL, password hash, role, attestation and terms times, mail preferences (expiry reminders, generation-finished mails, service updates), marketing consent with its time and source, when a browser last followed their jobs, objection / restriction / training-consent times, scheduled deletion, the privacy policy version seen", key: "id", on_delete: OnDelete::IsThePerson },
    Table { name: "sessions", holds: "IP, user agent (browser, OS, device), sign-in and last-seen times", key: "user_id", on_delete: CASCADE },
    Table { name: "email_tokens", holds: "the address a link was sent to (confirmation, reset, address change), token hash", key: "user_id", on_delete: CASCADE },
    Table { name: "mail_outbox", holds: "recipient address, mail text (sealed; cleared once sent, row purged after 30 days), the unsubscribe header", key: "user_id", on_delete: CASCADE },
    Table { name: "announcement_recipients", holds: "which announcements were queued to the person, and when", key: "user_id", on_delete: CASCADE },
    Table { name: "audit_log", holds: "IP, user agent, what happened", key: "user_id", on_delete: OnDelete::Anonymized("the security record stays without the person") },
    Table { name: "user_identities", holds: "provider, the provider's id for the person, the address it reported", key: "user_id", on_delete: CASCADE },
    Table { name: "oauth_states", holds: "a sign-in in progress (10 minutes; PKCE verifier, nonce, return path)", key: "link_user_id", on_delete: CASCADE },
    Table { name: "pending_signups", holds: "provider-verified address, name and picture awaiting the 18+ attestation", key: "email", on_delete: OnDelete::ByValue("single-use, expires after 30 minutes") },
    Table { name: "two_factor", holds: "the TOTP secret, sealed with the application key", key: "user_id", on_delete: CASCADE },
    Table { name: "recovery_codes", holds: "SHA-256 of single-use recovery codes", key: "user_id", on_delete: CASCADE },
    Table { name: "two_factor_challenges", holds: "a sign-in waiting for its second factor (10 minutes, 5 attempts)", key: "user_id", on_delete: CASCADE },
    Table { name: "credit_balances", holds: "available and held credits", key: "user_id", on_delete: CASCADE },
    Table { name: "credit_ledger", holds: "every credit change, with its reason and job", key: "user_id", on_delete: CASCADE },
    Table { name: "orders", holds: "what was bought, amount, currency, status, the provider's checkout and payment ids (never card data)", key: "user_id", on_delete: OnDelete::Anonymized("a sale is a tax record the law requires to keep") },
    Table { name: "billing_customers", holds: "the payment provider's customer id", key: "user_id", on_delete: CASCADE },
    Table { name: "subscriptions", holds: "the plan, the payment provider's subscription and customer ids, its status and current period", key: "user_id", on_delete: OnDelete::Anonymized("the billing relationship behind kept tax records; the provider's subscription must be canceled first") },
    Table { name: "generations", holds: "prompt, negative prompt, parameters, model, seed, timings, outcome, errors", key: "user_id", on_delete: CASCADE },
    Table { name: "images", holds: "sizes, storage paths, download window, favourite mark, published / hidden / reminded times", key: "user_id", on_delete: CASCADE },
    Table { name: "collections", holds: "collection names", key: "user_id", on_delete: CASCADE },
    Table { name: "collection_images", holds: "which image is in which collection", key: "user_id", on_delete: CASCADE },
    Table { name: "share_links", holds: "which image or collection a link opens, its expiry and revocation (the token only hashed)", key: "user_id", on_delete: CASCADE },
    Table { name: "moderation_flags", holds: "refused prompts and outputs and anonymous reports about published images, for staff review, with the staff decision and its reason", key: "user_id", on_delete: CASCADE },
    Table { name: "uploads", holds: "reference images, until their job ends or one hour unused", key: "user_id", on_delete: CASCADE },
    Table { name: "underage_reports", holds: "the reporter's optional e-mail and account, their IP, the reported account as typed, free text", key: "reporter_user_id", on_delete: OnDelete::Anonymized("a report about someone else outlives the reporter's account") },
    Table { name: "privacy_requests", holds: "each right exercised (export, deletion, objection, restriction, training consent), its state and due date; no personal data in its text", key: "user_id", on_delete: OnDelete::Anonymized("the record that a request was answered (GDPR art. 5(2) accountability)") },
    Table { name: "data_exports", holds: "the person's data exports: state, size, download window (the ZIP itself is stored encrypted under users/<user id>/exports/)", key: "user_id", on_delete: CASCADE },
    Table { name: "consent_records", holds: "each cookie choice: categories, Global Privacy Control, policy version, where and when (never an IP address)", key: "user_id", on_delete: CASCADE },
    Table { name: "staff_actions", holds: "what staff did to the person's account or data, by whom, why, in which request", key: "target_user_id", on_delete: OnDelete::Anonymized("the record of what staff did (SEC-2) stays without the person") },
    Table { name: "incident_notices", holds: "that the person was told about a breach, and when", key: "user_id", on_delete: CASCADE },
    Table { name: "api_keys", holds: "API keys: name, scopes, the first characters, created, last used, expiry and revocation times (the key itself only hashed)", key: "user_id", on_delete: CASCADE },
    Table { name: "api_idempotency", holds: "for 24 hours, the Idempotency-Key of each API request that sent one, a hash of the request and the first answer (image links; images in base64 are kept only as the ids of the job's images)", key: "user_id", on_delete: CASCADE },
    Table { name: "webhook_endpoints", holds: "webhook endpoint URLs, the chosen events, the signing secret (sealed with the application key), when turned off and why; and the default secret that signs the person's prediction webhooks (kind `predictions`)", key: "user_id", on_delete: CASCADE },
    Table { name: "webhook_deliveries", holds: "each event sent to an endpoint (job id, status, model, times, image ids; never the prompt), its attempts, last answer and state; for a prediction's own webhook its URL and the prediction object (with the prompt); purged 30 days after it ended", key: "user_id", on_delete: CASCADE },
    Table { name: "prediction_webhooks", holds: "the webhook URL and event filter a prediction was made with, and the origin it was made on; purged after 30 days", key: "user_id", on_delete: CASCADE },
    Table { name: "contact_messages", holds: "name, e-mail, message text", key: "email", on_delete: OnDelete::ByValue("kept to answer the message; found by address") },
];

/// Every object prefix that holds a person's data.
pub const OBJECTS: &[Objects] = &[
    Objects {
        prefix: "users/<user id>/images/",
        holds: "the generated images (original, preview, thumbnail), encrypted",
        on_delete: "Blobs::delete_prefix(\"users/<user id>/\")",
    },
    Objects {
        prefix: "users/<user id>/uploads/",
        holds: "reference images, encrypted",
        on_delete: "Blobs::delete_prefix(\"users/<user id>/\")",
    },
    Objects {
        prefix: "users/<user id>/review/",
        holds: "outputs refused by the output check (GEN-4), encrypted, for staff review only; purged after the decision or 30 days",
        on_delete: "Blobs::delete_prefix(\"users/<user id>/\")",
    },
    Objects {
        prefix: "users/<user id>/exports/",
        holds:
            "the person's data exports (ZIP parts), encrypted; deleted 7 days after they are ready",
        on_delete: "Blobs::delete_prefix(\"users/<user id>/\")",
    },
];

/// Whether a column's name says it points at a person: their account id or
/// an address.
pub fn names_a_person(column: &str) -> bool {
    column == "user_id"
        || column.ends_with("_user_id")
        || column.contains("email")
        || column == "to_address"
}

/// The registry entry of `table`.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    use uni1_migration::MigratorTrait as _;

    async fn rows(db: &sea_orm::DatabaseConnection, sql: String) -> Vec<sea_orm::QueryResult> {
        db.query_all(Statement::from_string(DbBackend::Sqlite, sql))
            .await
            .expect("a schema query")
    }

    #[tokio::test]
    async fn every_table_that_names_a_person_is_registered_with_its_delete_rule() {
        // One connection: each in-memory SQLite connection is its own database.
        let mut options = sea_orm::ConnectOptions::new("sqlite::memory:");
        options
            .max_connections(1)
            .min_connections(1)
            .sqlx_logging(false);
        let db = Database::connect(options).await.expect("sqlite");
        uni1_migration::Migrator::up(&db, None)
            .await
            .expect("migrations");
        let tables: Vec<String> = rows(
            &db,
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations'"
                .into(),
        )
        .await
        .iter()
        .map(|r| r.try_get::<String>("", "name").expect("name"))
        .collect();
        let mut problems = Vec::new();
        for registered in TABLES {
            if !tables.iter().any(|t| t == registered.name) {
                problems.push(format!(
                    "{} is registered but does not exist",
                    registered.name
                ));
            }
        }
        for name in &tables {
            let columns: Vec<String> = rows(&db, format!("PRAGMA table_info(\"{name}\")"))
                .await
                .iter()
                .map(|r| r.try_get::<String>("", "name").expect("column name"))
                .collect();
            let person_columns: Vec<&String> =
                columns.iter().filter(|c| names_a_person(c)).collect();
            let Some(entry) = table(name) else {
                if !person_columns.is_empty() {
                    problems.push(format!(
                        "{name} has {person_columns:?} but is not in personal_data::TABLES"
                    ));
                }
                continue;
            };
            if !columns.iter().any(|c| c == entry.key) {
                problems.push(format!("{name} has no key column {}", entry.key));
                continue;
            }
            // The foreign key from the key column to users, if any.
            let rule = rows(&db, format!("PRAGMA foreign_key_list(\"{name}\")"))
                .await
                .iter()
                .find(|r| {
                    r.try_get::<String>("", "from").ok().as_deref() == Some(entry.key)
                        && r.try_get::<String>("", "table").ok().as_deref() == Some("users")
                })
                .map(|r| r.try_get::<String>("", "on_delete").expect("on_delete"));
            let expected = match entry.on_delete {
                OnDelete::IsThePerson | OnDelete::ByValue(_) => None,
                OnDelete::Cascade => Some("CASCADE"),
                OnDelete::Anonymized(_) => Some("SET NULL"),
            };
            if rule.as_deref() != expected {
                problems.push(format!(
                    "{name}.{}: the schema says ON DELETE {rule:?}, the registry {:?}",
                    entry.key, entry.on_delete
                ));
            }
        }
        assert!(
            problems.is_empty(),
            "personal data registry:\n{}",
            problems.join("\n")
        );
    }
}
