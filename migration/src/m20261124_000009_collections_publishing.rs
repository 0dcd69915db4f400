//! Collections, collection share links, the public gallery and expiry
//! reminders.
//!
//! - `collections` and `collection_images`: a person's named sets of their
//!   own images (an image may be in several).
//! - `share_links` is rebuilt so a link points at an image *or* a
//!   collection (exactly one, by CHECK). SQLite cannot change a column's
//!   nullability in place, so both back-ends copy the rows into a new table.
//! - `images.published_at` (shown in the public gallery), `hidden_at` (taken
//!   out of it by moderation) and `reminded_at` (the 7-day expiry reminder
//!   was queued).
//! - `users.expiry_reminders`: opt-in for that reminder (off by default),
//!   and `users.expiry_reminded_at`: when the last one was queued (at most
//!   one a day).
//! - `moderation_flags.image_id`: a report about a published image.
//!
//! One `ALTER TABLE` per column: SQLite takes one change per statement.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Collections {
    Table,
    Id,
    UserId,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CollectionImages {
    Table,
    CollectionId,
    ImageId,
    UserId,
    AddedAt,
}

#[derive(DeriveIden)]
enum ShareLinks {
    Table,
    Id,
    UserId,
    ImageId,
    CollectionId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ShareLinksNew {
    Table,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    ExpiryReminders,
    ExpiryRemindedAt,
}

#[derive(DeriveIden)]
enum Images {
    Table,
    Id,
    PublishedAt,
    HiddenAt,
    RemindedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum ModerationFlags {
    Table,
    ImageId,
}

fn fk(
    name: &str,
    from: (impl IntoIden + 'static, impl IntoIden + 'static),
    to: (impl IntoIden + 'static, impl IntoIden + 'static),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// The share-links table; `for_collections` gives it the collection column.
fn share_links_table(
    name: impl IntoIden + Copy + 'static,
    for_collections: bool,
) -> TableCreateStatement {
    let mut t = Table::create();
    t.table(name)
        .col(uuid(ShareLinks::Id).primary_key())
        .col(uuid(ShareLinks::UserId))
        .col(string_len_uniq(ShareLinks::TokenHash, 64))
        .col(timestamp_with_time_zone(ShareLinks::CreatedAt))
        .col(timestamp_with_time_zone_null(ShareLinks::ExpiresAt))
        .col(timestamp_with_time_zone_null(ShareLinks::RevokedAt))
        .foreign_key(&mut fk(
            "fk_share_links_user",
            (name, ShareLinks::UserId),
            (Users::Table, Users::Id),
        ))
        .foreign_key(&mut fk(
            "fk_share_links_image",
            (name, ShareLinks::ImageId),
            (Images::Table, Images::Id),
        ));
    if for_collections {
        t.col(uuid_null(ShareLinks::ImageId))
            .col(uuid_null(ShareLinks::CollectionId))
            .check(
                Expr::col(ShareLinks::ImageId)
                    .is_null()
                    .ne(Expr::col(ShareLinks::CollectionId).is_null()),
            )
            .foreign_key(&mut fk(
                "fk_share_links_collection",
                (name, ShareLinks::CollectionId),
                (Collections::Table, Collections::Id),
            ));
    } else {
        t.col(uuid(ShareLinks::ImageId));
    }
    t.to_owned()
}

const COLUMNS: [ShareLinks; 7] = [
    ShareLinks::Id,
    ShareLinks::UserId,
    ShareLinks::ImageId,
    ShareLinks::TokenHash,
    ShareLinks::CreatedAt,
    ShareLinks::ExpiresAt,
    ShareLinks::RevokedAt,
];

/// Copies the image links from `share_links` into a new table built by
/// `new`, and puts it in the old one's place.
async fn rebuild_share_links(
    manager: &SchemaManager<'_>,
    new: TableCreateStatement,
) -> Result<(), DbErr> {
    manager.create_table(new).await?;
    let mut select = Query::select();
    select
        .columns(COLUMNS)
        .from(ShareLinks::Table)
        .and_where(Expr::col(ShareLinks::ImageId).is_not_null());
    let insert = Query::insert()
        .into_table(ShareLinksNew::Table)
        .columns(COLUMNS)
        .select_from(select)
        .map_err(|e| DbErr::Migration(e.to_string()))?
        .to_owned();
    manager.exec_stmt(insert).await?;
    manager
        .drop_table(Table::drop().table(ShareLinks::Table).to_owned())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(ShareLinksNew::Table, ShareLinks::Table)
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

async fn add_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + 'static,
    col: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(col).to_owned())
        .await
}

async fn drop_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + 'static,
    col: impl IntoIden + 'static,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(col).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Collections::Table)
                    .if_not_exists()
                    .col(uuid(Collections::Id).primary_key())
                    .col(uuid(Collections::UserId))
                    .col(string_len(Collections::Name, 80))
                    .col(timestamp_with_time_zone(Collections::CreatedAt))
                    .col(timestamp_with_time_zone(Collections::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_collections_user",
                        (Collections::Table, Collections::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_collections_user_name")
                    .table(Collections::Table)
                    .col(Collections::UserId)
                    .col(Collections::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CollectionImages::Table)
                    .if_not_exists()
                    .col(uuid(CollectionImages::CollectionId))
                    .col(uuid(CollectionImages::ImageId))
                    .col(uuid(CollectionImages::UserId))
                    .col(timestamp_with_time_zone(CollectionImages::AddedAt))
                    .primary_key(
                        Index::create()
                            .col(CollectionImages::CollectionId)
                            .col(CollectionImages::ImageId),
                    )
                    .foreign_key(&mut fk(
                        "fk_collection_images_collection",
                        (CollectionImages::Table, CollectionImages::CollectionId),
                        (Collections::Table, Collections::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_collection_images_image",
                        (CollectionImages::Table, CollectionImages::ImageId),
                        (Images::Table, Images::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_collection_images_user",
                        (CollectionImages::Table, CollectionImages::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_collection_images_image")
                    .table(CollectionImages::Table)
                    .col(CollectionImages::ImageId)
                    .to_owned(),
            )
            .await?;
        rebuild_share_links(manager, share_links_table(ShareLinksNew::Table, true)).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_share_links_collection")
                    .table(ShareLinks::Table)
                    .col(ShareLinks::CollectionId)
                    .to_owned(),
            )
            .await?;
        add_column(
            manager,
            Images::Table,
            timestamp_with_time_zone_null(Images::PublishedAt),
        )
        .await?;
        add_column(
            manager,
            Images::Table,
            timestamp_with_time_zone_null(Images::HiddenAt),
        )
        .await?;
        add_column(
            manager,
            Images::Table,
            timestamp_with_time_zone_null(Images::RemindedAt),
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_images_published")
                    .table(Images::Table)
                    .col(Images::PublishedAt)
                    .col(Images::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_images_expires")
                    .table(Images::Table)
                    .col(Images::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        add_column(
            manager,
            Users::Table,
            boolean(Users::ExpiryReminders).default(false).to_owned(),
        )
        .await?;
        add_column(
            manager,
            Users::Table,
            timestamp_with_time_zone_null(Users::ExpiryRemindedAt),
        )
        .await?;
        add_column(
            manager,
            ModerationFlags::Table,
            uuid_null(ModerationFlags::ImageId),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, ModerationFlags::Table, ModerationFlags::ImageId).await?;
        drop_column(manager, Users::Table, Users::ExpiryRemindedAt).await?;
        drop_column(manager, Users::Table, Users::ExpiryReminders).await?;
        for ix in ["ix_images_expires", "ix_images_published"] {
            manager
                .drop_index(Index::drop().name(ix).table(Images::Table).to_owned())
                .await?;
        }
        for col in [Images::RemindedAt, Images::HiddenAt, Images::PublishedAt] {
            drop_column(manager, Images::Table, col).await?;
        }
        // Collection links go with their collections.
        rebuild_share_links(manager, share_links_table(ShareLinksNew::Table, false)).await?;
        manager
            .drop_table(Table::drop().table(CollectionImages::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Collections::Table).to_owned())
            .await
    }
}
