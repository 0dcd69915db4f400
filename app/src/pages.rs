//! One module per page or group of small pages.

pub mod about;
pub mod contact;
pub mod landing;
pub mod legal;
pub mod not_found;
