//! "Your data" (PRV-1): for each category, what is stored about the person
//! right now, counted from the tables themselves (the export has the rows).

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Select};
use uuid::Uuid;

use super::Privacy;
use crate::entities::{
    audit_log, collection, consent_record, credit_ledger, data_export, generation, image,
    mail_outbox, order, privacy_request, session, share_link, subscription, two_factor, upload,
    user_identity,
};
use crate::support::error::{ResultExt, Unexpected};

/// One category with its count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// `sessions`, `images`, … (stable, for tests and the page's anchors).
    pub key: &'static str,
    pub label: &'static str,
    pub what: &'static str,
    pub count: u64,
}

async fn count<E: EntityTrait>(conn: &impl ConnectionTrait, q: Select<E>) -> Result<u64, Unexpected>
where
    E::Model: Sync,
{
    q.count(conn).await.unexpected("counting a person's data")
}

impl Privacy {
    /// What is stored about `user`, category by category.
    pub async fn stored(&self, user: Uuid) -> Result<Vec<Stored>, Unexpected> {
        let db = &self.db;
        let mut out = Vec::new();
        let mut add = |key, label, what, count| {
            out.push(Stored {
                key,
                label,
                what,
                count,
            })
        };
        add("account", "Account", "Your address, name, picture, role, the 18+ attestation, the terms you accepted and your choices below.", 1);
        add("sessions", "Devices signed in", "IP address, browser, system and times of each sign-in (kept while the session lasts and then in the history).",
            count(db, session::Entity::find().filter(session::Column::UserId.eq(user))).await?);
        add(
            "history",
            "Security log",
            "Sign-ins, sign-outs and changes to your account, with IP address and browser.",
            count(
                db,
                audit_log::Entity::find().filter(audit_log::Column::UserId.eq(user)),
            )
            .await?,
        );
        add(
            "providers",
            "Linked sign-in providers",
            "Google or GitHub: their id for you and the address they reported.",
            count(
                db,
                user_identity::Entity::find().filter(user_identity::Column::UserId.eq(user)),
            )
            .await?,
        );
        add(
            "two_factor",
            "Two-factor authentication",
            "The authenticator secret (sealed) and the hashes of your recovery codes.",
            count(
                db,
                two_factor::Entity::find()
                    .filter(two_factor::Column::UserId.eq(user))
                    .filter(two_factor::Column::EnabledAt.is_not_null()),
            )
            .await?,
        );
        add(
            "generations",
            "Generations and prompts",
            "Every prompt with its settings, model, seed, times and outcome.",
            count(
                db,
                generation::Entity::find().filter(generation::Column::UserId.eq(user)),
            )
            .await?,
        );
        add("images", "Images", "Stored images (original, preview, thumbnail), encrypted; until the end of their download window.",
            count(db, image::Entity::find().filter(image::Column::UserId.eq(user)).filter(image::Column::PurgedAt.is_null())).await?);
        add(
            "collections",
            "Collections",
            "Collection names and the images in them.",
            count(
                db,
                collection::Entity::find().filter(collection::Column::UserId.eq(user)),
            )
            .await?,
        );
        add(
            "share_links",
            "Share links",
            "Links you made to images and collections (their secret only hashed).",
            count(
                db,
                share_link::Entity::find().filter(share_link::Column::UserId.eq(user)),
            )
            .await?,
        );
        add(
            "uploads",
            "Uploaded reference images",
            "Encrypted; deleted when their job ends or after an hour unused.",
            count(
                db,
                upload::Entity::find().filter(upload::Column::UserId.eq(user)),
            )
            .await?,
        );
        add(
            "credits",
            "Credit history",
            "Your balance and every change to it.",
            count(
                db,
                credit_ledger::Entity::find().filter(credit_ledger::Column::UserId.eq(user)),
            )
            .await?,
        );
        add(
            "orders",
            "Orders and plans",
            "What you bought, amounts and status; your plan's state. Card data never reaches uni1.",
            count(
                db,
                order::Entity::find().filter(order::Column::UserId.eq(user)),
            )
            .await?
                + count(
                    db,
                    subscription::Entity::find().filter(subscription::Column::UserId.eq(user)),
                )
                .await?,
        );
        add("mail", "Mail", "Mails sent to you: kind, subject and times (bodies are deleted once sent; rows after 30 days).",
            count(db, mail_outbox::Entity::find().filter(mail_outbox::Column::UserId.eq(user))).await?);
        add(
            "requests",
            "Privacy requests",
            "Each right you exercised here, with its state and due date.",
            count(
                db,
                privacy_request::Entity::find().filter(privacy_request::Column::UserId.eq(user)),
            )
            .await?,
        );
        add(
            "cookie_choices",
            "Cookie choices",
            "The cookie choices you made while signed in, with the policy version and time (change them on the cookies page).",
            count(
                db,
                consent_record::Entity::find().filter(consent_record::Column::UserId.eq(user)),
            )
            .await?,
        );
        add(
            "exports",
            "Data exports",
            "Copies of your data you asked for (downloadable for 7 days).",
            count(
                db,
                data_export::Entity::find().filter(data_export::Column::UserId.eq(user)),
            )
            .await?,
        );
        Ok(out)
    }
}
