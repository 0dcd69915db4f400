//! ZIP archives written as a stream: each file is stored (PNG and WebP are
//! compressed already, deflate would only cost time), with its CRC-32 and
//! sizes in the local header, so a file's bytes can be sent as soon as they
//! are read and nothing but the small central directory is kept in memory.
//! Used for "download selected images" and the data export.
//!
//! Archives of 65,535 files or more, files of 4 GiB or more and files that
//! start 4 GiB or more into the archive use ZIP64 (PKWARE APPNOTE 6.3.x,
//! 4.3.14 to 4.3.16 and 4.5.3), but only in the fields that overflow: a
//! file's sizes or offset go to a ZIP64 extra field where its 32-bit field
//! would be too small, and the ZIP64 end record and its locator are written
//! only when the count, size or offset of the central directory would
//! overflow the classic end record. Smaller archives are the classic format,
//! byte for byte, which every reader opens.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Why a file could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// Offsets past 16 EiB (64 bits), which ZIP64 cannot express: never
    /// reached in practice, but checked rather than wrapped.
    #[error("the archive would be larger than 16 EiB")]
    TooLarge,
    #[error("a file name in the archive must be 1 to 255 bytes")]
    BadName,
}

struct Entry {
    name: String,
    crc: u32,
    size: u64,
    time: u16,
    date: u16,
    /// Where the entry's local header starts.
    offset: u64,
}

impl Entry {
    /// Whether the entry has ZIP64 fields: in its local header when it is
    /// 4 GiB or more, in the central directory also when it starts 4 GiB
    /// or more into the archive.
    fn zip64(&self) -> bool {
        self.size >= ZIP64_32 || self.offset >= ZIP64_32
    }

    /// Version needed to extract, the same in both headers: 4.5 in the
    /// local header too when only the offset needs ZIP64 (which that
    /// header does not hold), as the entry as a whole uses it.
    fn version(&self) -> u16 {
        if self.zip64() {
            VERSION_ZIP64
        } else {
            VERSION
        }
    }
}

/// Builds an archive piece by piece: [`add`](Self::add) gives the bytes
/// to send before each file's contents, [`finish`](Self::finish) the end.
#[derive(Default)]
pub struct ZipStream {
    entries: Vec<Entry>,
    /// Bytes handed out so far (headers and contents): the next offset.
    written: u64,
}

/// General purpose flag bit 11: names are UTF-8.
const UTF8: u16 = 1 << 11;
/// Version 2.0 is what "stored" with these fields needs.
const VERSION: u16 = 20;
/// Version 4.5 is what ZIP64 fields need (APPNOTE 4.4.3.2).
const VERSION_ZIP64: u16 = 45;
/// "Made by" Unix (3), so the permissions below are read; the low byte is
/// the entry's version.
const UNIX: u16 = 3 << 8;
/// A regular file, rw-r--r--.
const UNIX_FILE: u32 = 0o100644 << 16;
/// A 32-bit size or offset this large or larger is written as 0xFFFFFFFF,
/// its value going to a ZIP64 field (0xFFFFFFFF itself means "see ZIP64").
const ZIP64_32: u64 = 0xFFFF_FFFF;
/// The same for the 16-bit file counts of the end record.
const ZIP64_16: u64 = 0xFFFF;
/// Tag of the ZIP64 extended information extra field (APPNOTE 4.5.3).
const ZIP64_EXTRA: u16 = 0x0001;

/// A value for a 32-bit field: itself, or 0xFFFFFFFF when the ZIP64 field
/// holds it.
fn u32_or_zip64(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// A value for a 16-bit field: itself, or 0xFFFF when the ZIP64 end record
/// holds it.
fn u16_or_zip64(value: u64) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

/// The ZIP64 extended information extra field (APPNOTE 4.5.3) holding
/// `values`: those whose 32-bit fields overflowed, in the order
/// uncompressed size, compressed size, local header offset. Nothing when
/// there is none.
fn zip64_extra(values: &[u64]) -> Vec<u8> {
    if values.is_empty() {
        return Vec::new();
    }
    let mut x = Vec::with_capacity(4 + 8 * values.len());
    x.extend_from_slice(&ZIP64_EXTRA.to_le_bytes());
    x.extend_from_slice(&(8 * values.len() as u16).to_le_bytes());
    for v in values {
        x.extend_from_slice(&v.to_le_bytes());
    }
    x
}

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

    /// A stream that goes on from `written` bytes sent already, so the
    /// tests reach offsets past 4 GiB without writing 4 GiB.
    #[cfg(test)]
    fn starting_at(written: u64) -> Self {
        Self {
            entries: Vec::new(),
            written,
        }
    }

    /// The local header to send right before `data`, whose name in the
    /// archive is `name`.
    pub fn add(
        &mut self,
        name: &str,
        data: &[u8],
        modified: DateTime<Utc>,
    ) -> Result<Vec<u8>, ArchiveError> {
        self.add_sized(name, data.len() as u64, crc32fast::hash(data), modified)
    }

    /// [`add`](Self::add) for contents of `size` bytes whose CRC-32 is
    /// `crc` (the tests name files of 4 GiB without having them).
    fn add_sized(
        &mut self,
        name: &str,
        size: u64,
        crc: u32,
        modified: DateTime<Utc>,
    ) -> Result<Vec<u8>, ArchiveError> {
        if name.is_empty() || name.len() > 255 {
            return Err(ArchiveError::BadName);
        }
        let (time, date) = dos_time(modified);
        let entry = Entry {
            name: name.to_owned(),
            crc,
            size,
            time,
            date,
            offset: self.written,
        };
        // The local header of a file of 4 GiB or more MUST hold both sizes
        // in its ZIP64 field (APPNOTE 4.5.3); it has no offset to hold.
        let extra = if size >= ZIP64_32 {
            zip64_extra(&[size, size])
        } else {
            Vec::new()
        };
        let header_len = 30 + name.len() + extra.len();
        let written = self
            .written
            .checked_add(header_len as u64)
            .and_then(|w| w.checked_add(size))
            .ok_or(ArchiveError::TooLarge)?;
        let mut h = Vec::with_capacity(header_len);
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&entry.version().to_le_bytes());
        h.extend_from_slice(&UTF8.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&entry.time.to_le_bytes());
        h.extend_from_slice(&entry.date.to_le_bytes());
        h.extend_from_slice(&entry.crc.to_le_bytes());
        h.extend_from_slice(&u32_or_zip64(size).to_le_bytes()); // compressed
        h.extend_from_slice(&u32_or_zip64(size).to_le_bytes()); // uncompressed
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        h.extend_from_slice(&extra);
        self.written = written;
        self.entries.push(entry);
        Ok(h)
    }

    /// The central directory and end records: the last bytes to send.
    pub fn finish(self) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.entries {
            // The values that overflow their 32-bit fields, in APPNOTE order.
            let mut large = Vec::new();
            if e.size >= ZIP64_32 {
                large.extend_from_slice(&[e.size, e.size]); // uncompressed, compressed
            }
            if e.offset >= ZIP64_32 {
                large.push(e.offset);
            }
            let extra = zip64_extra(&large);
            out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            out.extend_from_slice(&(UNIX | e.version()).to_le_bytes());
            out.extend_from_slice(&e.version().to_le_bytes());
            out.extend_from_slice(&UTF8.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // stored
            out.extend_from_slice(&e.time.to_le_bytes());
            out.extend_from_slice(&e.date.to_le_bytes());
            out.extend_from_slice(&e.crc.to_le_bytes());
            out.extend_from_slice(&u32_or_zip64(e.size).to_le_bytes()); // compressed
            out.extend_from_slice(&u32_or_zip64(e.size).to_le_bytes()); // uncompressed
            out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
            out.extend_from_slice(&UNIX_FILE.to_le_bytes());
            out.extend_from_slice(&u32_or_zip64(e.offset).to_le_bytes());
            out.extend_from_slice(e.name.as_bytes());
            out.extend_from_slice(&extra);
        }
        let count = self.entries.len() as u64;
        let directory_size = out.len() as u64;
        let directory_offset = self.written;
        if count >= ZIP64_16 || directory_size >= ZIP64_32 || directory_offset >= ZIP64_32 {
            // ZIP64 end of central directory record (APPNOTE 4.3.14), right
            // after the directory.
            let record_offset = directory_offset + directory_size;
            out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            out.extend_from_slice(&44u64.to_le_bytes()); // the record after this field
            out.extend_from_slice(&(UNIX | VERSION_ZIP64).to_le_bytes());
            out.extend_from_slice(&VERSION_ZIP64.to_le_bytes());
            out.extend_from_slice(&[0; 8]); // this disk, the directory's disk
            out.extend_from_slice(&count.to_le_bytes()); // on this disk
            out.extend_from_slice(&count.to_le_bytes()); // in all
            out.extend_from_slice(&directory_size.to_le_bytes());
            out.extend_from_slice(&directory_offset.to_le_bytes());
            // ZIP64 end of central directory locator (APPNOTE 4.3.15).
            out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes()); // the ZIP64 record's disk
            out.extend_from_slice(&record_offset.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes()); // disks in all
        }
        // End of central directory record (APPNOTE 4.3.16), with 0xFFFF or
        // 0xFFFFFFFF in the fields the ZIP64 record holds.
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // this disk, the directory's disk
        out.extend_from_slice(&u16_or_zip64(count).to_le_bytes()); // on this disk
        out.extend_from_slice(&u16_or_zip64(count).to_le_bytes()); // in all
        out.extend_from_slice(&u32_or_zip64(directory_size).to_le_bytes());
        out.extend_from_slice(&u32_or_zip64(directory_offset).to_le_bytes());
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
            .filter(image::Column::TakenDownAt.is_null())
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

    // ZIP64.

    /// The `n`-byte little-endian field at `at`.
    fn le(bytes: &[u8], at: usize, n: usize) -> u64 {
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(&bytes[at..at + n]);
        u64::from_le_bytes(v)
    }

    /// Checks the ZIP64 end of central directory record and locator
    /// (APPNOTE 4.3.14, 4.3.15) at the end of `end`, [`ZipStream::finish`]'s
    /// bytes, field by field, for a directory of `count` files that starts
    /// `directory_offset` bytes into the archive. Gives the classic end
    /// record's fields (4.3.16): files on this disk, files, directory size
    /// and offset.
    fn check_zip64_end(end: &[u8], count: u64, directory_offset: u64) -> [u64; 4] {
        assert!(end.len() >= 22 + 20 + 56);
        let classic = end.len() - 22;
        let locator = classic - 20;
        let record = locator - 56;
        // The directory is everything before the ZIP64 record.
        let directory_size = record as u64;
        assert_eq!(le(end, 0, 4), 0x0201_4b50, "the directory comes first");

        assert_eq!(le(end, record, 4), 0x0606_4b50);
        assert_eq!(le(end, record + 4, 8), 44, "size of the rest of the record");
        assert_eq!(le(end, record + 12, 2), 0x032d, "made by: Unix, 4.5");
        assert_eq!(le(end, record + 14, 2), 45, "version needed");
        assert_eq!(le(end, record + 16, 4), 0, "this disk");
        assert_eq!(le(end, record + 20, 4), 0, "the directory's disk");
        assert_eq!(le(end, record + 24, 8), count, "files on this disk");
        assert_eq!(le(end, record + 32, 8), count, "files");
        assert_eq!(le(end, record + 40, 8), directory_size);
        assert_eq!(le(end, record + 48, 8), directory_offset);

        assert_eq!(le(end, locator, 4), 0x0706_4b50);
        assert_eq!(le(end, locator + 4, 4), 0, "the ZIP64 record's disk");
        assert_eq!(
            le(end, locator + 8, 8),
            directory_offset + directory_size,
            "the ZIP64 record's offset"
        );
        assert_eq!(le(end, locator + 16, 4), 1, "disks");

        assert_eq!(le(end, classic, 4), 0x0605_4b50);
        assert_eq!(
            le(end, classic + 4, 4),
            0,
            "this disk, the directory's disk"
        );
        assert_eq!(le(end, classic + 20, 2), 0, "comment");
        [8, 10, 12, 16].map(|at| le(end, classic + at, if at < 12 { 2 } else { 4 }))
    }

    /// One entry of the central directory, as written.
    #[derive(Debug, PartialEq, Eq)]
    struct Central {
        made_by: u64,
        version: u64,
        compressed: u64,
        uncompressed: u64,
        offset: u64,
        name: String,
        extra: Vec<u8>,
    }

    /// The central directory entries at the start of `end`.
    fn central_entries(end: &[u8], count: usize) -> Vec<Central> {
        let mut at = 0;
        (0..count)
            .map(|_| {
                assert_eq!(le(end, at, 4), 0x0201_4b50);
                let (name_len, extra_len) = (le(end, at + 28, 2), le(end, at + 30, 2));
                let name = at + 46;
                let extra = name + name_len as usize;
                let next = extra + extra_len as usize;
                let e = Central {
                    made_by: le(end, at + 4, 2),
                    version: le(end, at + 6, 2),
                    compressed: le(end, at + 20, 4),
                    uncompressed: le(end, at + 24, 4),
                    offset: le(end, at + 42, 4),
                    name: String::from_utf8(end[name..extra].to_vec()).unwrap(),
                    extra: end[extra..next].to_vec(),
                };
                at = next;
                e
            })
            .collect()
    }

    /// A ZIP64 extended information extra field holding `values`.
    fn zip64_field(values: &[u64]) -> Vec<u8> {
        let mut x = vec![0x01, 0x00, 8 * values.len() as u8, 0x00];
        for v in values {
            x.extend_from_slice(&v.to_le_bytes());
        }
        x
    }

    /// A file in the temporary directory, removed when dropped (also when
    /// a test fails).
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(tag: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let name = format!("uni1-{tag}-{}-{nanos}.zip", std::process::id());
            Self(std::env::temp_dir().join(name))
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// What Python's `zipfile` reads in the archive at `path`: `script`
    /// has `z`, the open `ZipFile`, and `args`, and prints JSON.
    fn python(path: &std::path::Path, script: &str, args: &[String]) -> serde_json::Value {
        let program = format!(
            "import json, sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nargs = sys.argv[2:]\n{script}"
        );
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(program)
            .arg(path)
            .args(args)
            .output()
            .expect("python3 is installed");
        assert!(
            out.status.success(),
            "Python's zipfile failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// An archive of which only `pieces` (offset, bytes) are kept, the rest
    /// being zeros: what readers see of entries past 4 GiB without the
    /// 4 GiB before them in memory or on disk.
    struct Sparse {
        pieces: Vec<(u64, Vec<u8>)>,
        pos: u64,
    }

    impl Sparse {
        fn new(pieces: Vec<(u64, Vec<u8>)>) -> Self {
            Self { pieces, pos: 0 }
        }

        fn len(&self) -> u64 {
            self.pieces
                .iter()
                .map(|(at, bytes)| at + bytes.len() as u64)
                .max()
                .unwrap_or(0)
        }

        /// The archive as a sparse file: the zeros are holes, which take no
        /// disk.
        fn write_to(&self, path: &std::path::Path) {
            use std::io::{Seek as _, Write as _};
            let mut file = std::fs::File::create(path).unwrap();
            for (at, bytes) in &self.pieces {
                file.seek(std::io::SeekFrom::Start(*at)).unwrap();
                file.write_all(bytes).unwrap();
            }
        }
    }

    impl std::io::Read for Sparse {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let mut n = self.len().saturating_sub(self.pos).min(buf.len() as u64) as usize;
            // The piece holding `pos`, or else zeros up to the next piece.
            let mut piece = None;
            for (at, bytes) in &self.pieces {
                if (*at..at + bytes.len() as u64).contains(&self.pos) {
                    piece = Some(&bytes[(self.pos - at) as usize..]);
                } else if *at > self.pos {
                    n = n.min((at - self.pos) as usize);
                }
            }
            match piece {
                Some(bytes) => {
                    n = n.min(bytes.len());
                    buf[..n].copy_from_slice(&bytes[..n]);
                }
                None => buf[..n].fill(0),
            }
            self.pos += n as u64;
            Ok(n)
        }
    }

    impl std::io::Seek for Sparse {
        fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
            let pos = match to {
                std::io::SeekFrom::Start(n) => Some(n),
                std::io::SeekFrom::End(d) => self.len().checked_add_signed(d),
                std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            };
            self.pos = pos.ok_or_else(|| std::io::Error::other("seek before the start"))?;
            Ok(self.pos)
        }
    }

    /// 70,000 files, more than the classic end record can count: the ZIP64
    /// end record and locator hold the count (the classic record 0xFFFF),
    /// the entries themselves stay classic, and two other readers (the
    /// `zip` crate and Python's `zipfile`) find every file.
    #[test]
    fn more_than_65535_files_are_counted_in_zip64_end_records() {
        const FILES: usize = 70_000;
        let name = |i: usize| format!("f/{i:05}.txt");
        // 1 to 10 bytes.
        let contents = |i: usize| i.to_string().repeat(1 + i % 2);
        let when = Utc::now();
        let mut zip = ZipStream::new();
        let mut bytes = Vec::new();
        for i in 0..FILES {
            let data = contents(i);
            bytes.extend(zip.add(&name(i), data.as_bytes(), when).unwrap());
            bytes.extend_from_slice(data.as_bytes());
        }
        let directory_offset = bytes.len() as u64;
        let end = zip.finish();
        let directory_size = (end.len() - 22 - 20 - 56) as u64;
        assert_eq!(directory_size, FILES as u64 * (46 + 11));
        assert_eq!(
            check_zip64_end(&end, FILES as u64, directory_offset),
            [0xFFFF, 0xFFFF, directory_size, directory_offset],
            "only the count overflows the classic end record"
        );
        let central = central_entries(&end, FILES);
        assert_eq!(
            central[FILES - 1],
            Central {
                made_by: 0x0314,
                version: 20,
                compressed: 10,
                uncompressed: 10,
                offset: directory_offset - (30 + 11 + 10),
                name: name(FILES - 1),
                extra: vec![],
            }
        );
        assert!(central
            .iter()
            .all(|e| e.version == 20 && e.extra.is_empty()));
        bytes.extend(end);

        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
        assert_eq!(archive.len(), FILES);
        for i in 0..FILES {
            let mut f = archive.by_index(i).unwrap();
            assert_eq!(f.name(), name(i));
            let mut read = String::new();
            f.read_to_string(&mut read).unwrap(); // checks the CRC too
            assert_eq!(read, contents(i));
        }

        let file = TempFile::new("zip64-files");
        std::fs::write(&file.0, &bytes).unwrap();
        let samples = [0, 9, 65_534, 65_535, 65_536, FILES - 1];
        let read = python(
            &file.0,
            "names = z.namelist()\n\
             picked = [names[int(i)] for i in args]\n\
             print(json.dumps({'bad': z.testzip(), 'count': len(names),\n\
                 'names': picked, 'contents': [z.read(n).decode() for n in picked]}))",
            &samples.map(|i| i.to_string()),
        );
        assert_eq!(
            read,
            serde_json::json!({
                "bad": null,
                "count": FILES,
                "names": samples.map(name),
                "contents": samples.map(contents),
            })
        );
    }

    /// Files that start 4 GiB or more into the archive: their offsets go to
    /// ZIP64 fields in the central directory (also the one right at
    /// 0xFFFFFFFF, as that value means "see the ZIP64 field"), and the
    /// directory's offset to the ZIP64 end record. The stream starts just
    /// short of 4 GiB, as if that much had been sent before.
    #[test]
    fn files_past_4_gib_have_zip64_offsets() {
        let when = Utc::now();
        let files = [
            ("a.txt", &b"abc"[..]),
            ("b.txt", &b"defg"[..]),
            ("c.txt", &b"hi"[..]),
        ];
        // "a.txt" (a 35-byte header, 3 bytes) ends where 0xFFFFFFFF starts.
        let start = 0xFFFF_FFFF - (30 + 5 + 3);
        let mut zip = ZipStream::starting_at(start);
        let mut tail = Vec::new();
        let mut offsets = Vec::new();
        for (name, data) in files {
            offsets.push(start + tail.len() as u64);
            tail.extend(zip.add(name, data, when).unwrap());
            tail.extend_from_slice(data);
        }
        assert_eq!(offsets, [start, 0xFFFF_FFFF, 0xFFFF_FFFF + 39]);
        let directory_offset = start + tail.len() as u64;
        let end = zip.finish();

        // Local headers: version 4.5 past 4 GiB, but no ZIP64 field (a local
        // header has no offset), the sizes being small.
        for (at, version, size) in [(0, 20, 3), (38, 45, 4), (77, 45, 2)] {
            assert_eq!(le(&tail, at, 4), 0x0403_4b50);
            assert_eq!(le(&tail, at + 4, 2), version);
            assert_eq!([le(&tail, at + 18, 4), le(&tail, at + 22, 4)], [size; 2]);
            assert_eq!(le(&tail, at + 28, 2), 0, "no extra field");
        }
        let entry = |i: usize, version, offset, extra| Central {
            made_by: 0x0300 | version,
            version,
            compressed: files[i].1.len() as u64,
            uncompressed: files[i].1.len() as u64,
            offset,
            name: files[i].0.to_owned(),
            extra,
        };
        assert_eq!(
            central_entries(&end, 3),
            [
                entry(0, 20, start, vec![]),
                entry(1, 45, 0xFFFF_FFFF, zip64_field(&[offsets[1]])),
                entry(2, 45, 0xFFFF_FFFF, zip64_field(&[offsets[2]])),
            ]
        );
        let directory_size = 3 * (46 + 5) + 2 * 12;
        assert_eq!(end.len(), directory_size + 56 + 20 + 22);
        assert_eq!(
            check_zip64_end(&end, 3, directory_offset),
            [3, 3, directory_size as u64, 0xFFFF_FFFF],
            "only the directory offset overflows the classic end record"
        );

        let archive = Sparse::new(vec![(start, tail), (directory_offset, end)]);
        assert_eq!(archive.len(), directory_offset + directory_size as u64 + 98);
        let file = TempFile::new("zip64-offsets");
        archive.write_to(&file.0);
        let mut archive = zip::ZipArchive::new(archive).unwrap();
        assert_eq!(archive.len(), 3);
        for (i, (name, data)) in files.iter().enumerate() {
            let mut f = archive.by_index(i).unwrap();
            assert_eq!((f.name(), f.header_start()), (*name, offsets[i]));
            let mut read = Vec::new();
            f.read_to_end(&mut read).unwrap();
            assert_eq!(&read, data);
        }
        let read = python(
            &file.0,
            "print(json.dumps({'bad': z.testzip(), 'files': [\n\
                 [i.filename, i.header_offset, z.read(i).decode()] for i in z.infolist()]}))",
            &[],
        );
        assert_eq!(
            read,
            serde_json::json!({
                "bad": null,
                "files": [
                    ["a.txt", start, "abc"],
                    ["b.txt", offsets[1], "defg"],
                    ["c.txt", offsets[2], "hi"],
                ],
            })
        );
    }

    /// Files of 4 GiB or more, named by size and CRC without contents: both
    /// sizes go to the local header's ZIP64 field (APPNOTE 4.5.3 wants both
    /// there), and to the central directory's, followed by the offset when
    /// that overflows too.
    #[test]
    fn files_of_4_gib_or_more_have_zip64_sizes() {
        let when = Utc::now();
        // The smallest size that needs ZIP64, and 5 GiB.
        let (big, bigger) = (0xFFFF_FFFF, 5 << 30);
        let mut zip = ZipStream::new();
        let h1 = zip.add_sized("big.bin", big, 0x1234_5678, when).unwrap();
        let at2 = h1.len() as u64 + big;
        let h2 = zip
            .add_sized("bigger.bin", bigger, 0x9abc_def0, when)
            .unwrap();
        let at3 = at2 + h2.len() as u64 + bigger;
        let h3 = zip.add("tail.txt", b"the end", when).unwrap();
        let directory_offset = at3 + h3.len() as u64 + 7;
        let end = zip.finish();

        for (h, name, size, crc) in [
            (&h1, "big.bin", big, 0x1234_5678),
            (&h2, "bigger.bin", bigger, 0x9abc_def0),
        ] {
            let n = name.len();
            assert_eq!(h.len(), 30 + n + 20);
            assert_eq!(le(h, 0, 4), 0x0403_4b50);
            assert_eq!(le(h, 4, 2), 45, "version needed");
            assert_eq!(le(h, 14, 4), crc);
            assert_eq!([le(h, 18, 4), le(h, 22, 4)], [0xFFFF_FFFF; 2]);
            assert_eq!([le(h, 26, 2), le(h, 28, 2)], [n as u64, 20]);
            assert_eq!(&h[30..30 + n], name.as_bytes());
            assert_eq!(h[30 + n..], zip64_field(&[size, size]));
        }
        assert_eq!([le(&h3, 4, 2), le(&h3, 18, 4), le(&h3, 28, 2)], [45, 7, 0]);

        let entry = |name: &str, size, offset, extra| Central {
            made_by: 0x032d,
            version: 45,
            compressed: size,
            uncompressed: size,
            offset,
            name: name.to_owned(),
            extra,
        };
        assert_eq!(
            central_entries(&end, 3),
            [
                entry("big.bin", 0xFFFF_FFFF, 0, zip64_field(&[big, big])),
                entry(
                    "bigger.bin",
                    0xFFFF_FFFF,
                    0xFFFF_FFFF,
                    zip64_field(&[bigger, bigger, at2])
                ),
                entry("tail.txt", 7, 0xFFFF_FFFF, zip64_field(&[at3])),
            ]
        );
        let directory_size = 3 * 46 + (7 + 10 + 8) + (20 + 28 + 12);
        assert_eq!(
            check_zip64_end(&end, 3, directory_offset),
            [3, 3, directory_size, 0xFFFF_FFFF]
        );

        // Readers see the sizes and offsets; the contents of the large files
        // (zeros here, which would not match the CRCs) are not read.
        let mut tail = h3;
        tail.extend_from_slice(b"the end");
        let archive = Sparse::new(vec![
            (0, h1),
            (at2, h2),
            (at3, tail),
            (directory_offset, end),
        ]);
        let file = TempFile::new("zip64-sizes");
        archive.write_to(&file.0);
        let mut archive = zip::ZipArchive::new(archive).unwrap();
        for (name, size, offset) in [
            ("big.bin", big, 0),
            ("bigger.bin", bigger, at2),
            ("tail.txt", 7, at3),
        ] {
            let f = archive.by_name(name).unwrap();
            assert_eq!(
                [f.size(), f.compressed_size(), f.header_start()],
                [size, size, offset]
            );
        }
        let mut read = String::new();
        archive
            .by_name("tail.txt")
            .unwrap()
            .read_to_string(&mut read)
            .unwrap();
        assert_eq!(read, "the end");
        let read = python(
            &file.0,
            "print(json.dumps({'files': [[i.filename, i.file_size, i.compress_size, i.header_offset,\n\
                 i.CRC] for i in z.infolist()], 'tail': z.read('tail.txt').decode()}))",
            &[],
        );
        assert_eq!(
            read,
            serde_json::json!({
                "files": [
                    ["big.bin", big, big, 0, 0x1234_5678],
                    ["bigger.bin", bigger, bigger, at2, 0x9abc_def0u32],
                    ["tail.txt", 7, 7, at3, crc32fast::hash(b"the end")],
                ],
                "tail": "the end",
            })
        );
    }

    /// A real archive past 4 GiB, on disk: a file of 4 GiB and a bit
    /// between two small ones, read back by Python (which checks every
    /// CRC) and the `zip` crate. It needs 4.3 GB of disk for a while and
    /// takes some 20 seconds:
    /// `cargo test -p uni1-domain --lib archive -- --ignored`.
    #[test]
    #[ignore = "writes 4 GiB to the temporary directory"]
    fn a_real_archive_past_4_gib_opens() {
        use std::io::Write as _;
        let when = Utc::now();
        // Zeros (pages of which no memory is taken until written, on Linux)
        // but for the last byte.
        let mut big = vec![0u8; (4 << 30) + (1 << 20)];
        if let Some(last) = big.last_mut() {
            *last = 1;
        }
        let files = [
            ("first.txt", &b"first"[..]),
            ("big.bin", &big[..]),
            ("after.txt", &b"after"[..]),
        ];
        let file = TempFile::new("zip64-real");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file.0).unwrap());
        let mut zip = ZipStream::new();
        for (name, data) in files {
            out.write_all(&zip.add(name, data, when).unwrap()).unwrap();
            out.write_all(data).unwrap();
        }
        out.write_all(&zip.finish()).unwrap();
        out.into_inner().unwrap().sync_all().unwrap();
        let after = 30 + 9 + 5 + 30 + 7 + 20 + big.len() as u64;

        let read = python(
            &file.0,
            "print(json.dumps({'bad': z.testzip(), 'files': [[i.filename, i.file_size, i.header_offset]\n\
                 for i in z.infolist()], 'after': z.read('after.txt').decode()}))",
            &[],
        );
        assert_eq!(
            read,
            serde_json::json!({
                "bad": null,
                "files": [
                    ["first.txt", 5, 0],
                    ["big.bin", big.len(), 30 + 9 + 5],
                    ["after.txt", 5, after],
                ],
                "after": "after",
            })
        );
        let mut archive = zip::ZipArchive::new(std::io::BufReader::new(
            std::fs::File::open(&file.0).unwrap(),
        ))
        .unwrap();
        let mut f = archive.by_name("big.bin").unwrap();
        assert_eq!(f.size(), big.len() as u64);
        // Through the CRC check.
        assert_eq!(
            std::io::copy(&mut f, &mut std::io::sink()).unwrap(),
            big.len() as u64
        );
        drop(f);
        let mut f = archive.by_name("after.txt").unwrap();
        assert_eq!(f.header_start(), after);
        let mut read = String::new();
        f.read_to_string(&mut read).unwrap();
        assert_eq!(read, "after");
    }
}
