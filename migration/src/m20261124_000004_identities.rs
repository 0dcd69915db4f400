//! Sign-in with Google and GitHub: linked identities, the state of flows in
//! progress, and provider sign-ups waiting for the 18+ attestation.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserIdentities {
    Table,
    Id,
    UserId,
    Provider,
    Subject,
    Email,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum OauthStates {
    Table,
    Id,
    StateHash,
    Provider,
    PkceVerifier,
    Nonce,
    NextPath,
    LinkUserId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum PendingSignups {
    Table,
    Id,
    TokenHash,
    Provider,
    Subject,
    Email,
    DisplayName,
    AvatarUrl,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserIdentities::Table)
                    .if_not_exists()
                    .col(uuid(UserIdentities::Id).primary_key())
                    .col(uuid(UserIdentities::UserId))
                    .col(string_len(UserIdentities::Provider, 16))
                    .col(string_len(UserIdentities::Subject, 255))
                    .col(string_len_null(UserIdentities::Email, 254))
                    .col(timestamp_with_time_zone(UserIdentities::CreatedAt))
                    .col(timestamp_with_time_zone(UserIdentities::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_identities_user")
                            .from(UserIdentities::Table, UserIdentities::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_user_identities_provider_subject")
                    .table(UserIdentities::Table)
                    .col(UserIdentities::Provider)
                    .col(UserIdentities::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_user_identities_user")
                    .table(UserIdentities::Table)
                    .col(UserIdentities::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OauthStates::Table)
                    .if_not_exists()
                    .col(uuid(OauthStates::Id).primary_key())
                    .col(string_len_uniq(OauthStates::StateHash, 64))
                    .col(string_len(OauthStates::Provider, 16))
                    .col(string_len(OauthStates::PkceVerifier, 128))
                    .col(string_len(OauthStates::Nonce, 128))
                    .col(string_len(OauthStates::NextPath, 512))
                    .col(uuid_null(OauthStates::LinkUserId))
                    .col(timestamp_with_time_zone(OauthStates::CreatedAt))
                    .col(timestamp_with_time_zone(OauthStates::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_oauth_states_user")
                            .from(OauthStates::Table, OauthStates::LinkUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PendingSignups::Table)
                    .if_not_exists()
                    .col(uuid(PendingSignups::Id).primary_key())
                    .col(string_len_uniq(PendingSignups::TokenHash, 64))
                    .col(string_len(PendingSignups::Provider, 16))
                    .col(string_len(PendingSignups::Subject, 255))
                    .col(string_len(PendingSignups::Email, 254))
                    .col(string_len(PendingSignups::DisplayName, 100))
                    .col(text_null(PendingSignups::AvatarUrl))
                    .col(timestamp_with_time_zone(PendingSignups::CreatedAt))
                    .col(timestamp_with_time_zone(PendingSignups::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PendingSignups::UsedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PendingSignups::Table.into_iden(),
            OauthStates::Table.into_iden(),
            UserIdentities::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
