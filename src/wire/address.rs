//! ZeroTier addresses, network IDs, MAC addresses and the `InetAddress` encoding.

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Error, Reader, Result, Writer};

/// A 40-bit ZeroTier node address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(u64);

impl Address {
    /// Length on the wire.
    pub const LEN: usize = 5;

    /// The address made of the low 40 bits of `v`.
    pub const fn new(v: u64) -> Self {
        Self(v & 0xff_ffff_ffff)
    }

    /// The address from its 5 big-endian bytes.
    pub fn from_bytes(b: &[u8; 5]) -> Self {
        Self(b.iter().fold(0, |acc, &x| (acc << 8) | u64::from(x)))
    }

    /// The 5 big-endian bytes.
    pub fn to_bytes(self) -> [u8; 5] {
        let b = self.0.to_be_bytes();
        [b[3], b[4], b[5], b[6], b[7]]
    }

    /// The address as an integer.
    pub const fn to_u64(self) -> u64 {
        self.0
    }

    /// Zero and every address starting with 0xff are reserved (`Address::isReserved`); 0xff
    /// marks fragments on the wire.
    pub fn is_reserved(self) -> bool {
        self.0 == 0 || (self.0 >> 32) == 0xff
    }

    /// Reads 5 bytes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self(r.u40()?))
    }

    /// Writes 5 bytes.
    pub fn emit(self, w: &mut Writer<'_>) -> Result<()> {
        w.u40(self.0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:010x}", self.0)
    }
}

impl FromStr for Address {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s.len() != 10 {
            return Err(Error::Malformed("address: need 10 hex digits"));
        }
        u64::from_str_radix(s, 16)
            .ok()
            .filter(|_| s.bytes().all(|c| c.is_ascii_hexdigit()))
            .map(Self)
            .ok_or(Error::Malformed("address: not hex"))
    }
}

/// A 64-bit network ID; its top 40 bits are the controller's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NetworkId(pub u64);

impl NetworkId {
    /// The address of the controller that owns this network (`nwid >> 24`).
    pub fn controller(self) -> Address {
        Address::new(self.0 >> 24)
    }
}

impl fmt::Display for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for NetworkId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s.len() != 16 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::Malformed("network id: need 16 hex digits"));
        }
        u64::from_str_radix(s, 16)
            .map(Self)
            .map_err(|_| Error::Malformed("network id"))
    }
}

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub u64);

impl Mac {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Self = Self(0xffff_ffff_ffff);

    /// Reads 6 bytes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let b: [u8; 6] = r.array()?;
        Ok(Self(b.iter().fold(0, |acc, &x| (acc << 8) | u64::from(x))))
    }

    /// Writes 6 bytes.
    pub fn emit(self, w: &mut Writer<'_>) -> Result<()> {
        w.bytes(&self.0.to_be_bytes()[2..])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.to_be_bytes();
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[2], b[3], b[4], b[5], b[6], b[7]
        )
    }
}

/// ZeroTier's `InetAddress`: nothing, or an IP with a port. In configuration blobs the port
/// carries a CIDR prefix length instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum InetAddress {
    /// No address (one 0x00 byte).
    #[default]
    Nil,
    /// An IPv4 address and port (type 0x04, 7 bytes).
    V4(Ipv4Addr, u16),
    /// An IPv6 address and port (type 0x06, 19 bytes).
    V6(Ipv6Addr, u16),
}

impl InetAddress {
    /// The address of a socket.
    pub fn from_socket(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(a) => Self::V4(*a.ip(), a.port()),
            SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
                Some(v4) => Self::V4(v4, a.port()),
                None => Self::V6(*a.ip(), a.port()),
            },
        }
    }

    /// The socket address, unless nil.
    pub fn to_socket(self) -> Option<SocketAddr> {
        match self {
            Self::Nil => None,
            Self::V4(ip, port) => Some(SocketAddr::new(IpAddr::V4(ip), port)),
            Self::V6(ip, port) => Some(SocketAddr::new(IpAddr::V6(ip), port)),
        }
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::Nil => 1,
            Self::V4(..) => 7,
            Self::V6(..) => 19,
        }
    }

    /// Reads one encoded address. The obsolete types 0x01–0x03 are skipped and read as nil.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self> {
        match r.u8()? {
            0x00 => Ok(Self::Nil),
            0x01 | 0x02 => r.bytes(6).map(|_| Self::Nil),
            0x03 => {
                let n = r.u16()?;
                r.bytes(usize::from(n)).map(|_| Self::Nil)
            }
            0x04 => {
                let ip: [u8; 4] = r.array()?;
                Ok(Self::V4(ip.into(), r.u16()?))
            }
            0x06 => {
                let ip: [u8; 16] = r.array()?;
                Ok(Self::V6(ip.into(), r.u16()?))
            }
            _ => Err(Error::Malformed("inet address type")),
        }
    }

    /// Writes the encoding.
    pub fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        match self {
            Self::Nil => w.u8(0),
            Self::V4(ip, port) => {
                w.u8(0x04)?;
                w.bytes(&ip.octets())?;
                w.u16(*port)
            }
            Self::V6(ip, port) => {
                w.u8(0x06)?;
                w.bytes(&ip.octets())?;
                w.u16(*port)
            }
        }
    }
}

impl fmt::Display for InetAddress {
    /// ZeroTier's text form: `ip/port` (or `ip/bits` in configuration).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nil => f.write_str("nil"),
            Self::V4(ip, p) => write!(f, "{ip}/{p}"),
            Self::V6(ip, p) => write!(f, "{ip}/{p}"),
        }
    }
}

impl FromStr for InetAddress {
    type Err = Error;

    /// Parses `ip/port` (ZeroTier's form) or `ip:port` / `[ip6]:port`.
    fn from_str(s: &str) -> Result<Self> {
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(Self::from_socket(sa));
        }
        let (ip, port) = s
            .rsplit_once('/')
            .ok_or(Error::Malformed("address: need IP/PORT"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| Error::Malformed("address: bad port"))?;
        match ip
            .parse::<IpAddr>()
            .map_err(|_| Error::Malformed("address: bad IP"))?
        {
            IpAddr::V4(v4) => Ok(Self::V4(v4, port)),
            IpAddr::V6(v6) => Ok(Self::V6(v6, port)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_forms() {
        let a: Address = "8e4df28b72".parse().unwrap();
        assert_eq!(a.to_string(), "8e4df28b72");
        assert_eq!(Address::from_bytes(&a.to_bytes()), a);
        assert!(Address::new(0).is_reserved());
        assert!(Address::new(0xff_0000_0001).is_reserved());
        assert!(!a.is_reserved());
        assert!("8e4df28b7".parse::<Address>().is_err());
        assert!("+e4df28b72".parse::<Address>().is_err());
        assert_eq!(NetworkId(0x8e4d_f28b_7200_0001).controller(), a);
    }

    #[test]
    fn inet_round_trips() {
        for text in ["10.0.0.1/9993", "fd00::1/9993", "192.0.2.1:80", "[::1]:7"] {
            let a: InetAddress = text.parse().unwrap();
            let mut buf = [0u8; 19];
            let mut w = Writer::new(&mut buf);
            a.emit(&mut w).unwrap();
            let n = w.position();
            assert_eq!(n, a.buffer_len());
            let mut r = Reader::new(&buf[..n]);
            assert_eq!(InetAddress::parse(&mut r), Ok(a));
        }
        assert!(InetAddress::parse(&mut Reader::new(&[9])).is_err());
        assert!(InetAddress::parse(&mut Reader::new(&[4, 1, 2])).is_err());
    }
}
