//! NETWORK_CONFIG_REQUEST and configuration chunks (OK(NETWORK_CONFIG_REQUEST) bodies and
//! NETWORK_CONFIG pushes) (ZeroTier `Network::requestConfiguration`, `Node::ncSendConfig`,
//! `Network::handleConfigChunk`).
//!
//! Request: u64 network ID, u16 metadata length, metadata dictionary, then optionally u64
//! revision and u64 timestamp of the config the client holds.
//!
//! Chunk: u64 network ID, u16 n, n dictionary bytes, u8 flags, u64 update ID, u32 total
//! length, u32 index (byte offset), u8 signature type (1), u16 signature length (96), signature
//! over everything from the network ID through the index. The legacy unsigned form ends right
//! after the dictionary bytes.

use crate::limits::{MAX_METADATA_DICT_LEN, MAX_NETCONF_DICT_LEN};
use crate::wire::{Error, NetworkId, Reader, Result, Writer};

/// Length of a C25519 signature.
const SIGNATURE_LEN: usize = 96;

/// A NETWORK_CONFIG_REQUEST payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigRequest<'a> {
    /// The network asked for.
    pub network_id: NetworkId,
    /// The client's metadata dictionary (escaped form, no NUL).
    pub metadata: &'a [u8],
    /// Revision of the config the client holds, if sent.
    pub revision: Option<u64>,
    /// Timestamp of the config the client holds, if sent.
    pub timestamp: Option<u64>,
}

impl<'a> ConfigRequest<'a> {
    /// Parses the (decompressed) payload.
    pub fn parse(payload: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let network_id = NetworkId(r.u64()?);
        let n = usize::from(r.u16()?);
        if n > MAX_METADATA_DICT_LEN + 1 {
            return Err(Error::BadLength);
        }
        let mut metadata = r.bytes(n)?;
        if let Some(end) = metadata.iter().position(|&b| b == 0) {
            metadata = &metadata[..end];
        }
        let (revision, timestamp) = if r.remaining() >= 16 {
            (Some(r.u64()?), Some(r.u64()?))
        } else {
            (None, None)
        };
        Ok(Self {
            network_id,
            metadata,
            revision,
            timestamp,
        })
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        10 + self.metadata.len() + if self.revision.is_some() { 16 } else { 0 }
    }

    /// Writes the payload.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        if self.metadata.len() > MAX_METADATA_DICT_LEN {
            return Err(Error::BadLength);
        }
        w.u64(self.network_id.0)?;
        w.u16(self.metadata.len() as u16)?;
        w.bytes(self.metadata)?;
        if let Some(rev) = self.revision {
            w.u64(rev)?;
            w.u64(self.timestamp.unwrap_or(0))?;
        }
        Ok(())
    }
}

/// One chunk of a configuration dictionary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigChunk<'a> {
    /// The network.
    pub network_id: NetworkId,
    /// This chunk's bytes of the dictionary.
    pub data: &'a [u8],
    /// Flags (0x01 = fast propagate).
    pub flags: u8,
    /// Random, non-zero, the same for all chunks of one configuration.
    pub update_id: u64,
    /// Length of the whole dictionary.
    pub total_len: u32,
    /// Byte offset of this chunk in the dictionary.
    pub index: u32,
    /// The controller's signature; `None` for the legacy unsigned form.
    pub signature: Option<[u8; SIGNATURE_LEN]>,
}

impl<'a> ConfigChunk<'a> {
    /// Parses a chunk and checks its bounds (`index + len ≤ total ≤ MAX_NETCONF_DICT_LEN`).
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let network_id = NetworkId(r.u64()?);
        let n = usize::from(r.u16()?);
        let data = r.bytes(n)?;
        if r.is_empty() {
            let total_len = u32::try_from(n).map_err(|_| Error::BadLength)?;
            let (flags, update_id, index, signature) = (0, 0, 0, None);
            return Ok(Self {
                network_id,
                data,
                flags,
                update_id,
                total_len,
                index,
                signature,
            });
        }
        let flags = r.u8()?;
        let update_id = r.u64()?;
        let total_len = r.u32()?;
        let index = r.u32()?;
        if r.u8()? != 1 || usize::from(r.u16()?) != SIGNATURE_LEN {
            return Err(Error::Malformed("config chunk signature type"));
        }
        let signature = Some(r.array()?);
        let end = u64::from(index) + n as u64;
        if end > u64::from(total_len) || total_len as usize > MAX_NETCONF_DICT_LEN {
            return Err(Error::BadLength);
        }
        Ok(Self {
            network_id,
            data,
            flags,
            update_id,
            total_len,
            index,
            signature,
        })
    }

    /// Length of the signed part: network ID through index.
    pub fn signed_len(&self) -> usize {
        8 + 2 + self.data.len() + 1 + 8 + 4 + 4
    }

    /// Writes the signed part (what the controller signs) into `w`.
    pub fn emit_signed_part(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u64(self.network_id.0)?;
        w.u16(u16::try_from(self.data.len()).map_err(|_| Error::BadLength)?)?;
        w.bytes(self.data)?;
        w.u8(self.flags)?;
        w.u64(self.update_id)?;
        w.u32(self.total_len)?;
        w.u32(self.index)
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        match self.signature {
            Some(_) => self.signed_len() + 3 + SIGNATURE_LEN,
            None => 10 + self.data.len(),
        }
    }

    /// Writes the chunk.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        let Some(sig) = &self.signature else {
            w.u64(self.network_id.0)?;
            w.u16(u16::try_from(self.data.len()).map_err(|_| Error::BadLength)?)?;
            return w.bytes(self.data);
        };
        self.emit_signed_part(w)?;
        w.u8(1)?;
        w.u16(SIGNATURE_LEN as u16)?;
        w.bytes(sig)
    }
}
