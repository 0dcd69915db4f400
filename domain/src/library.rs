//! A person's library: the gallery of their images, collections, share
//! links, the public gallery, expiry reminders, and ZIP archives of their
//! originals.

pub mod archive;
pub mod collections;
pub mod gallery;
pub mod publishing;
pub mod reminders;
pub mod sharing;
