//! Gallery: a favourite flag on each image, and the index the gallery pages
//! through (newest first, ties broken by id).
//!
//! `ADD COLUMN ... NOT NULL DEFAULT false` works on SQLite and PostgreSQL and
//! fills existing rows with `false`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Images {
    Table,
    Id,
    UserId,
    CreatedAt,
    Favorite,
}

const INDEX: &str = "ix_images_user_created_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Images::Table)
                    .add_column(boolean(Images::Favorite).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Images::Table)
                    .col(Images::UserId)
                    .col(Images::CreatedAt)
                    .col(Images::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Images::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Images::Table)
                    .drop_column(Images::Favorite)
                    .to_owned(),
            )
            .await
    }
}
