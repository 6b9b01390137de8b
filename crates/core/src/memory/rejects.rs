//! The rejects bucket in memory, held to S3's rules where they matter: every part of a multipart
//! upload but the last holds at least 5 MiB, and completing takes the parts' ETags as given back.

use crate::ports::{RejectsStore, StoreError, StoreErrorKind};
use crate::rejects::PART_BYTES;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryRejects {
    pub objects: Mutex<HashMap<String, Vec<u8>>>,
    /// Upload id -> (key, parts by number).
    uploads: Mutex<HashMap<String, (String, BTreeMap<i32, Vec<u8>>)>>,
    /// Fail every call, as a bucket the deployment may not write would.
    pub refuse: Mutex<bool>,
}

impl MemoryRejects {
    fn check(&self) -> Result<(), StoreError> {
        match *self.refuse.lock().unwrap() {
            true => Err(StoreError::new(StoreErrorKind::Rejected, "AccessDenied: the rejects bucket refused")),
            false => Ok(()),
        }
    }

    /// The object's text.
    pub fn text(&self, key: &str) -> Option<String> {
        self.objects.lock().unwrap().get(key).map(|b| String::from_utf8(b.clone()).expect("UTF-8"))
    }

    /// Multipart uploads started and not completed.
    pub fn open_uploads(&self) -> usize {
        self.uploads.lock().unwrap().len()
    }
}

fn etag(body: &[u8]) -> String {
    format!("\"{}-{}\"", body.len(), body.iter().map(|&b| b as u64).sum::<u64>())
}

#[async_trait]
impl RejectsStore for MemoryRejects {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.check()?;
        self.objects.lock().unwrap().insert(key.to_owned(), body);
        Ok(())
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.check()?;
        Ok(self.objects.lock().unwrap().get(key).cloned())
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check()?;
        self.objects.lock().unwrap().remove(key);
        Ok(())
    }
    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.check()?;
        Ok(self.objects.lock().unwrap().contains_key(key))
    }
    async fn start_upload(&self, key: &str) -> Result<String, StoreError> {
        self.check()?;
        let mut uploads = self.uploads.lock().unwrap();
        let id = format!("upload-{}", uploads.len() + 1);
        uploads.insert(id.clone(), (key.to_owned(), BTreeMap::new()));
        Ok(id)
    }
    async fn upload_part(&self, key: &str, upload_id: &str, number: i32, body: Vec<u8>) -> Result<String, StoreError> {
        self.check()?;
        let mut uploads = self.uploads.lock().unwrap();
        let Some((upload_key, parts)) = uploads.get_mut(upload_id).filter(|(k, _)| k == key) else {
            return Err(StoreError::new(StoreErrorKind::Rejected, "NoSuchUpload"));
        };
        debug_assert_eq!(upload_key, key);
        let tag = etag(&body);
        parts.insert(number, body);
        Ok(tag)
    }
    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[(i32, String)]) -> Result<(), StoreError> {
        self.check()?;
        let Some((_, uploaded)) = self.uploads.lock().unwrap().remove(upload_id) else {
            return Err(StoreError::new(StoreErrorKind::Rejected, "NoSuchUpload"));
        };
        let mut body = Vec::new();
        for (i, (number, tag)) in parts.iter().enumerate() {
            let part = uploaded.get(number).filter(|p| etag(p) == *tag);
            let part = part.ok_or_else(|| StoreError::new(StoreErrorKind::Rejected, "InvalidPart"))?;
            if i + 1 < parts.len() && part.len() < PART_BYTES {
                return Err(StoreError::new(StoreErrorKind::Rejected, "EntityTooSmall"));
            }
            body.extend_from_slice(part);
        }
        self.objects.lock().unwrap().insert(key.to_owned(), body);
        Ok(())
    }
    async fn link(&self, key: &str, valid_for: std::time::Duration) -> Result<String, StoreError> {
        Ok(format!("memory://rejects/{key}?expires-in={}", valid_for.as_secs()))
    }
}
