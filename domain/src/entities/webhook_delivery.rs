//! One event for one endpoint: the outbox row a delivery pass claims,
//! sends, and reschedules until a 2xx or the end of the retry schedule.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    /// Also the message id sent as `webhook-id` (`msg_<uuid>`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub user_id: Uuid,
    pub generation_id: Option<Uuid>,
    pub event_type: String,
    /// The JSON body, exactly as signed and sent.
    pub payload: String,
    pub created_at: DateTimeUtc,
    pub attempts: i32,
    /// When the next attempt is due; `None` once it ended.
    pub next_attempt_at: Option<DateTimeUtc>,
    pub locked_until: Option<DateTimeUtc>,
    pub delivered_at: Option<DateTimeUtc>,
    pub failed_at: Option<DateTimeUtc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    /// Where a per-prediction delivery goes (the prediction's `webhook`);
    /// `None`: the endpoint's own URL.
    pub url: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
