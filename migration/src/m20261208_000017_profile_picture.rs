//! The profile picture a person uploads (PRV-1): `users.picture_id` names
//! the object `users/<id>/picture/<picture_id>.webp` (a square WebP made
//! from the upload, encrypted like every object). A new upload gets a new
//! id, so its address changes and no cache shows the old one.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    PictureId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(uuid_null(Users::PictureId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::PictureId)
                    .to_owned(),
            )
            .await
    }
}
