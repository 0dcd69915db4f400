//! Share links: an unguessable token (only its SHA-256 is stored) that lets
//! anyone holding it see one image, until it expires or its owner revokes it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ShareLinks {
    Table,
    Id,
    UserId,
    ImageId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Images {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ShareLinks::Table)
                    .if_not_exists()
                    .col(uuid(ShareLinks::Id).primary_key())
                    .col(uuid(ShareLinks::UserId))
                    .col(uuid(ShareLinks::ImageId))
                    .col(string_len_uniq(ShareLinks::TokenHash, 64))
                    .col(timestamp_with_time_zone(ShareLinks::CreatedAt))
                    .col(timestamp_with_time_zone_null(ShareLinks::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ShareLinks::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_share_links_user")
                            .from(ShareLinks::Table, ShareLinks::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_share_links_image")
                            .from(ShareLinks::Table, ShareLinks::ImageId)
                            .to(Images::Table, Images::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_share_links_image")
                    .table(ShareLinks::Table)
                    .col(ShareLinks::ImageId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ShareLinks::Table).to_owned())
            .await
    }
}
