//! ZIP archives written as a stream: each file is stored (PNG and WebP are
//! compressed already, deflate would only cost time), with its CRC-32 and
//! sizes in the local header, so a file's bytes can be sent as soon as they
//! are read and nothing but the small central directory is kept in memory.
//! Used for "download selected images"; the data export will reuse it.
//!
//! Limits of the classic format (no ZIP64): at most 65,535 files and 4 GiB
//! in total, which [`ZipStream::add`] checks.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Why a file could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("the archive would be larger than 4 GiB")]
    TooLarge,
    #[error("the archive would hold more than 65,535 files")]
    TooManyFiles,
    #[error("a file name in the archive must be 1 to 255 bytes")]
    BadName,
}

struct Entry {
    name: String,
    crc: u32,
    size: u32,
    time: u16,
    date: u16,
    offset: u32,
}

/// Builds an archive piece by piece: [`add`](Self::add) gives the bytes
/// to send before each file's contents, [`finish`](Self::finish) the end.
#[derive(Default)]
pub struct ZipStream {
    entries: Vec<Entry>,
    written: u64,
}

/// General purpose flag bit 11: names are UTF-8.
const UTF8: u16 = 1 << 11;
/// Version 2.0 is what "stored" with these fields needs.
const VERSION: u16 = 20;
/// "Made by" Unix (3) version 2.0, so the permissions below are read.
const MADE_BY: u16 = (3 << 8) | VERSION;
/// A regular file, rw-r--r--.
const UNIX_FILE: u32 = 0o100644 << 16;

/// MS-DOS time and date (2-second steps, years 1980 to 2107).
fn dos_time(t: DateTime<Utc>) -> (u16, u16) {
    let year = t.year().clamp(1980, 2107) as u16;
    let time = ((t.hour() as u16) << 11) | ((t.minute() as u16) << 5) | (t.second() as u16 / 2);
    let date = ((year - 1980) << 9) | ((t.month() as u16) << 5) | t.day() as u16;
    (time, date)
}

impl ZipStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// The local header to send right before `data`, whose name in the
    /// archive is `name`.
    pub fn add(
        &mut self,
        name: &str,
        data: &[u8],
        modified: DateTime<Utc>,
    ) -> Result<Vec<u8>, ArchiveError> {
        if name.is_empty() || name.len() > 255 {
            return Err(ArchiveError::BadName);
        }
        if self.entries.len() >= usize::from(u16::MAX) {
            return Err(ArchiveError::TooManyFiles);
        }
        let header_len = 30 + name.len() as u64;
        let central_len = 46 + name.len() as u64;
        let central_so_far: u64 = self.entries.iter().map(|e| 46 + e.name.len() as u64).sum();
        // Everything, including the central directory, must fit in 32 bits.
        if self.written + header_len + data.len() as u64 + central_so_far + central_len + 22
            > u64::from(u32::MAX)
        {
            return Err(ArchiveError::TooLarge);
        }
        let (time, date) = dos_time(modified);
        let entry = Entry {
            name: name.to_owned(),
            crc: crc32fast::hash(data),
            size: data.len() as u32,
            time,
            date,
            offset: self.written as u32,
        };
        let mut h = Vec::with_capacity(header_len as usize);
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&VERSION.to_le_bytes());
        h.extend_from_slice(&UTF8.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&entry.time.to_le_bytes());
        h.extend_from_slice(&entry.date.to_le_bytes());
        h.extend_from_slice(&entry.crc.to_le_bytes());
        h.extend_from_slice(&entry.size.to_le_bytes());
        h.extend_from_slice(&entry.size.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // no extra field
        h.extend_from_slice(name.as_bytes());
        self.written += header_len + data.len() as u64;
        self.entries.push(entry);
        Ok(h)
    }

    /// The central directory and end record: the last bytes to send.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.entries {
            out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            out.extend_from_slice(&MADE_BY.to_le_bytes());
            out.extend_from_slice(&VERSION.to_le_bytes());
            out.extend_from_slice(&UTF8.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&e.time.to_le_bytes());
            out.extend_from_slice(&e.date.to_le_bytes());
            out.extend_from_slice(&e.crc.to_le_bytes());
            out.extend_from_slice(&e.size.to_le_bytes());
            out.extend_from_slice(&e.size.to_le_bytes());
            out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
            out.extend_from_slice(&UNIX_FILE.to_le_bytes());
            out.extend_from_slice(&e.offset.to_le_bytes());
            out.extend_from_slice(e.name.as_bytes());
        }
        let count = self.entries.len() as u16;
        let directory_size = out.len() as u32;
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // this disk, the directory's disk
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&directory_size.to_le_bytes());
        out.extend_from_slice(&(self.written as u32).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // no comment
        out
    }
}

/// A person's chosen originals as one ZIP, read one file at a time: each
/// original is read, decrypted and handed out before the next is read, so
/// memory holds one image and the central directory. "Download selected
/// images" streams it; the data export reuses it.
pub struct OriginalsZip {
    rows: std::vec::IntoIter<crate::entities::image::Model>,
    zip: Option<ZipStream>,
    names: std::collections::HashSet<String>,
    blobs: uni1_storage::Blobs,
}

/// Why the next piece of an [`OriginalsZip`] could not be made (logged
/// with its cause where it happens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    #[error("an image could not be read from storage")]
    Storage,
    #[error("the archive could not be built")]
    Archive,
}

impl OriginalsZip {
    /// The originals among `ids` that belong to `user` and are still kept,
    /// newest first; `None` when there is none.
    pub async fn open(
        db: &sea_orm::DatabaseConnection,
        blobs: &uni1_storage::Blobs,
        user: uuid::Uuid,
        ids: Vec<uuid::Uuid>,
    ) -> Result<Option<Self>, crate::Unexpected> {
        use crate::entities::image;
        use crate::support::error::ResultExt as _;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        let rows = image::Entity::find()
            .filter(image::Column::UserId.eq(user))
            .filter(image::Column::Id.is_in(ids))
            .filter(image::Column::PurgedAt.is_null())
            .order_by_desc(image::Column::CreatedAt)
            .all(db)
            .await
            .unexpected("reading images to download")?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            rows: rows.into_iter(),
            zip: Some(ZipStream::new()),
            names: std::collections::HashSet::new(),
            blobs: blobs.clone(),
        }))
    }

    /// The next bytes to send: one file's header and contents, then the
    /// end of the archive, then `None`. An original whose object is
    /// missing is left out (and logged).
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, ZipError>> {
        use crate::generation::service::{MediaObject, Variant};
        loop {
            // Finished, or stopped by an error.
            self.zip.as_ref()?;
            let Some(img) = self.rows.next() else {
                return self.zip.take().map(|zip| Ok(zip.finish()));
            };
            let object = MediaObject::of(&img, Variant::Original);
            let data = match self.blobs.get(&object.path).await {
                Ok(data) => data,
                Err(uni1_storage::StorageError::NotFound(_)) => {
                    tracing::error!(path = %object.path, "an image row points at a missing object");
                    continue;
                }
                Err(error) => {
                    tracing::error!(%error, "reading an image for a ZIP failed");
                    self.zip = None;
                    return Some(Err(ZipError::Storage));
                }
            };
            let mut name = object.file_name.clone();
            if !self.names.insert(name.clone()) {
                name = format!("{}-{}.png", name.trim_end_matches(".png"), img.id.simple());
                self.names.insert(name.clone());
            }
            let zip = self.zip.as_mut()?;
            let mut chunk = match zip.add(&name, &data, img.created_at) {
                Ok(header) => header,
                Err(error) => {
                    tracing::error!(%error, "a ZIP could not be built");
                    self.zip = None;
                    return Some(Err(ZipError::Archive));
                }
            };
            chunk.extend_from_slice(&data);
            return Some(Ok(chunk));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    /// The archive is read back by an independent implementation (the
    /// `zip` crate).
    #[test]
    fn archives_open_in_another_zip_reader() {
        let when = DateTime::parse_from_rfc3339("2026-11-24T15:04:06Z")
            .unwrap()
            .with_timezone(&Utc);
        let files: Vec<(&str, Vec<u8>)> = vec![
            (
                "uni1-20261124-150406-1.png",
                (0..=255u8).cycle().take(70_000).collect(),
            ),
            ("Ünïcode name.webp", b"RIFF....WEBP".to_vec()),
            ("empty.txt", vec![]),
        ];
        let mut zip = ZipStream::new();
        let mut bytes = Vec::new();
        for (name, data) in &files {
            bytes.extend(zip.add(name, data, when).unwrap());
            bytes.extend_from_slice(data);
        }
        bytes.extend(zip.finish());

        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), files.len());
        for (i, (name, data)) in files.iter().enumerate() {
            let mut f = archive.by_index(i).unwrap();
            assert_eq!(f.name(), *name);
            assert_eq!(f.compression(), zip::CompressionMethod::Stored);
            let m = f.last_modified().unwrap();
            assert_eq!((m.year(), m.month(), m.day()), (2026, 11, 24));
            assert_eq!((m.hour(), m.minute(), m.second()), (15, 4, 6));
            assert_eq!(f.unix_mode(), Some(0o100644));
            let mut read = Vec::new();
            f.read_to_end(&mut read).unwrap(); // checks the CRC too
            assert_eq!(&read, data);
        }
    }

    /// The end record's fields by the letter of the APPNOTE: the directory
    /// starts at its offset, is exactly its size long, and ends where the
    /// end record begins (readers such as Python's `zipfile` rely on it).
    fn check_end_record(bytes: &[u8], files: u16) {
        let end = bytes.len() - 22;
        assert_eq!(&bytes[end..end + 4], &0x0605_4b50u32.to_le_bytes());
        let field = |at: usize, n: usize| {
            let mut v = [0u8; 4];
            v[..n].copy_from_slice(&bytes[end + at..end + at + n]);
            u32::from_le_bytes(v) as usize
        };
        assert_eq!(field(8, 2), usize::from(files));
        assert_eq!(field(10, 2), usize::from(files));
        let (size, offset) = (field(12, 4), field(16, 4));
        assert_eq!(offset + size, end, "directory offset + size = end record");
        if files > 0 {
            assert_eq!(&bytes[offset..offset + 4], &0x0201_4b50u32.to_le_bytes());
        }
    }

    #[test]
    fn the_end_record_points_exactly_at_the_directory() {
        let mut zip = ZipStream::new();
        let mut bytes = Vec::new();
        for (name, data) in [("a.png", &b"12345"[..]), ("bb.webp", &b"xyz"[..])] {
            bytes.extend(zip.add(name, data, Utc::now()).unwrap());
            bytes.extend_from_slice(data);
        }
        bytes.extend(zip.finish());
        check_end_record(&bytes, 2);
        // An archive with no files (every selected file was missing).
        let empty = ZipStream::new().finish();
        assert_eq!(empty.len(), 22);
        check_end_record(&empty, 0);
        assert_eq!(
            zip::ZipArchive::new(std::io::Cursor::new(empty))
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn names_are_checked() {
        let mut zip = ZipStream::new();
        assert_eq!(zip.add("", b"x", Utc::now()), Err(ArchiveError::BadName));
        assert_eq!(
            zip.add(&"a".repeat(256), b"x", Utc::now()),
            Err(ArchiveError::BadName)
        );
    }
}
