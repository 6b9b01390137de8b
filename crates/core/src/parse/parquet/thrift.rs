//! A look at what the Parquet reader would trust, before it does; both are Thrift's compact
//! protocol, of which only the fields needed are read and the rest skipped with a bounded depth:
//!
//! - the footer: how deep its schema nests (`FileMetaData.schema`, field 2, a list of
//!   `SchemaElement` with `num_children` in field 5). parquet 60.1 builds the schema by recursion
//!   without a limit, so a footer of a few KB nesting thousands of groups overflows the thread's
//!   stack and aborts the process (no panic to catch);
//! - a page's header: the sizes it claims (`PageHeader` fields 2 and 3, and a v2 data page's
//!   uncompressed levels). The reader allocates a page's buffer as its header says, so the claims
//!   are held to the row group's budget before a page is decoded.

/// Groups within groups a schema may nest; real schemas nest a handful (a list of structs of lists).
pub const MAX_SCHEMA_DEPTH: usize = 64;
/// Structs and lists within each other that a skipped Thrift value may nest.
const MAX_SKIP_DEPTH: usize = 32;

/// How deep the schema of the footer's metadata (`FileMetaData`, without the length and magic)
/// nests, or why it cannot be read.
pub fn schema_depth(metadata: &[u8]) -> Result<usize, String> {
    let mut input = Compact { bytes: metadata, at: 0 };
    let mut last = 0i16;
    loop {
        let Some((id, kind)) = input.field(&mut last)? else {
            return Err("the footer has no schema".into());
        };
        if id == 2 && kind == LIST {
            let (count, element) = input.list()?;
            if element != STRUCT {
                return Err("the footer's schema is not a list of elements".into());
            }
            let mut children = Vec::with_capacity(count.min(1 << 16));
            for _ in 0..count {
                children.push(input.schema_element()?);
            }
            return Ok(depth(&children));
        }
        input.skip(kind, 0)?;
    }
}

/// What a page's header says of its sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSizes {
    /// Bytes of the header itself.
    pub header: u64,
    pub uncompressed: u64,
    pub compressed: u64,
    /// A v2 data page: the bytes of its levels, which come first and uncompressed, and whether the
    /// values after them are compressed.
    pub levels: u64,
    pub values_compressed: bool,
}

/// The header of the page that `bytes` begin with.
pub fn page_header(bytes: &[u8]) -> Result<PageSizes, String> {
    let mut input = Compact { bytes, at: 0 };
    let (mut last, mut uncompressed, mut compressed) = (0i16, None, None);
    let (mut levels, mut values_compressed) = (0, true);
    while let Some((id, kind)) = input.field(&mut last)? {
        match (id, kind) {
            (2, I32) => uncompressed = Some(input.zigzag()?),
            (3, I32) => compressed = Some(input.zigzag()?),
            (8, STRUCT) => {
                let mut last = 0i16;
                while let Some((id, kind)) = input.field(&mut last)? {
                    match (id, kind) {
                        (5 | 6, I32) => levels += input.zigzag()?.max(0) as u64,
                        (7, BOOL_TRUE) => values_compressed = true,
                        (7, BOOL_FALSE) => values_compressed = false,
                        _ => input.skip(kind, 1)?,
                    }
                }
            }
            _ => input.skip(kind, 0)?,
        }
    }
    let size = |n: Option<i64>, what: &str| {
        n.and_then(|n| u64::try_from(n).ok()).ok_or_else(|| format!("a page header without its {what} size"))
    };
    Ok(PageSizes {
        header: input.at as u64,
        uncompressed: size(uncompressed, "uncompressed")?,
        compressed: size(compressed, "compressed")?,
        levels,
        values_compressed,
    })
}

/// The nesting of a schema given depth-first as each element's number of children.
fn depth(children: &[i64]) -> usize {
    let (mut open, mut deepest) = (Vec::<i64>::new(), 0);
    for &n in children {
        if let Some(left) = open.last_mut() {
            *left -= 1;
        }
        if n > 0 {
            open.push(n);
            deepest = deepest.max(open.len());
        }
        while open.last().is_some_and(|&left| left <= 0) {
            open.pop();
        }
    }
    deepest
}

const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;

/// Thrift compact protocol, read forward.
struct Compact<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.at).ok_or("it ends in the middle of a value")?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("it holds a number longer than 64 bits".into())
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let n = self.varint()?;
        Ok((n >> 1) as i64 ^ -((n & 1) as i64))
    }

    fn advance(&mut self, n: u64) -> Result<(), String> {
        let end = usize::try_from(n).ok().and_then(|n| self.at.checked_add(n)).filter(|&end| end <= self.bytes.len());
        self.at = end.ok_or("it ends in the middle of a value")?;
        Ok(())
    }

    /// The next field's id and type, or `None` at the struct's end.
    fn field(&mut self, last: &mut i16) -> Result<Option<(i16, u8)>, String> {
        let header = self.byte()?;
        if header == 0 {
            return Ok(None);
        }
        let delta = i16::from(header >> 4);
        let id = if delta == 0 { self.zigzag()? as i16 } else { last.wrapping_add(delta) };
        *last = id;
        Ok(Some((id, header & 0x0f)))
    }

    /// A list's (or set's) size and element type.
    fn list(&mut self) -> Result<(usize, u8), String> {
        let header = self.byte()?;
        let size = match header >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        // Each element takes a byte at least: a size past what is left is a lie.
        let size = usize::try_from(size).ok().filter(|&n| n <= self.bytes.len() - self.at);
        Ok((size.ok_or("it holds a list longer than itself")?, header & 0x0f))
    }

    /// A `SchemaElement`'s `num_children` (field 5; 0 for a leaf).
    fn schema_element(&mut self) -> Result<i64, String> {
        let (mut last, mut children) = (0i16, 0);
        while let Some((id, kind)) = self.field(&mut last)? {
            match (id, kind) {
                (5, I32) => children = self.zigzag()?,
                _ => self.skip(kind, 1)?,
            }
        }
        Ok(children)
    }

    /// Passes over a value of `kind`, nested `depth` deep.
    fn skip(&mut self, kind: u8, depth: usize) -> Result<(), String> {
        if depth > MAX_SKIP_DEPTH {
            return Err("it nests its values too deep".into());
        }
        match kind {
            BOOL_TRUE | BOOL_FALSE => Ok(()),
            BYTE => self.advance(1),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.advance(8),
            BINARY => {
                let n = self.varint()?;
                self.advance(n)
            }
            LIST | SET => {
                let (size, element) = self.list()?;
                for _ in 0..size {
                    // A list's booleans take a byte each.
                    match element {
                        BOOL_TRUE | BOOL_FALSE => self.advance(1)?,
                        _ => self.skip(element, depth + 1)?,
                    }
                }
                Ok(())
            }
            MAP => {
                let size = self.varint()?;
                if size == 0 {
                    return Ok(());
                }
                let types = self.byte()?;
                for _ in 0..size.min(self.bytes.len() as u64) {
                    self.skip(types >> 4, depth + 1)?;
                    self.skip(types & 0x0f, depth + 1)?;
                }
                Ok(())
            }
            STRUCT => {
                let mut last = 0;
                while let Some((_, kind)) = self.field(&mut last)? {
                    self.skip(kind, depth + 1)?;
                }
                Ok(())
            }
            other => Err(format!("it holds a value of unknown type {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_follows_the_children_of_each_group() {
        // root(2): a, b(1): c(1): d
        assert_eq!(depth(&[2, 0, 1, 1, 0]), 3);
        assert_eq!(depth(&[3, 0, 0, 0]), 1);
        assert_eq!(depth(&[0]), 0);
        // A lie (more children than follow) still ends.
        assert_eq!(depth(&[5, 0]), 1);
    }
}
