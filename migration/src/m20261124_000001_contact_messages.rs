//! The first table: messages sent through the contact form.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ContactMessages {
    Table,
    Id,
    Name,
    Email,
    Message,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ContactMessages::Table)
                    .if_not_exists()
                    .col(uuid(ContactMessages::Id).primary_key())
                    .col(string_len(ContactMessages::Name, 100))
                    .col(string_len(ContactMessages::Email, 254))
                    .col(text(ContactMessages::Message))
                    .col(timestamp_with_time_zone(ContactMessages::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contact_messages_email")
                    .table(ContactMessages::Table)
                    .col(ContactMessages::Email)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ContactMessages::Table).to_owned())
            .await
    }
}
