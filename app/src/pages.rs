//! One module per page or group of small pages.

pub mod about;
pub mod admin;
pub mod admin_announcements;
pub mod admin_dashboard;
pub mod admin_moderation;
pub mod api_keys;
pub mod auth;
pub mod billing;
pub mod collections;
pub mod contact;
pub mod explore;
pub mod gallery;
pub mod landing;
pub mod legal;
pub mod not_found;
pub mod notifications;
pub mod privacy;
pub mod security;
pub mod share;
pub mod studio;
pub mod underage;
pub mod webhooks;
