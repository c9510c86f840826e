//! The binary rules blob (`Capability::serializeRules`): per rule a type byte (low 6 bits =
//! type, 0x80 = NOT, 0x40 = OR), a field length, and the field. Unknown types are kept as raw
//! bytes so a blob round-trips.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Address, Error, Mac, Reader, Result, Writer};
use crate::limits::MAX_RULES;

/// Rule type codes (`ZT_VirtualNetworkRuleType`).
pub mod code {
    /// Drop the frame.
    pub const DROP: u8 = 0;
    /// Accept the frame.
    pub const ACCEPT: u8 = 1;
    /// Copy to an address.
    pub const TEE: u8 = 2;
    /// Copy headers to an address.
    pub const WATCH: u8 = 3;
    /// Redirect to an address.
    pub const REDIRECT: u8 = 4;
    /// Stop evaluating this rule set.
    pub const BREAK: u8 = 5;
    /// Set QoS priority.
    pub const PRIORITY: u8 = 6;
    /// Source ZeroTier address.
    pub const SOURCE_ZT_ADDRESS: u8 = 24;
    /// Destination ZeroTier address.
    pub const DEST_ZT_ADDRESS: u8 = 25;
    /// VLAN ID.
    pub const VLAN_ID: u8 = 26;
    /// VLAN PCP.
    pub const VLAN_PCP: u8 = 27;
    /// VLAN DEI.
    pub const VLAN_DEI: u8 = 28;
    /// Source MAC.
    pub const MAC_SOURCE: u8 = 29;
    /// Destination MAC.
    pub const MAC_DEST: u8 = 30;
    /// Source IPv4 network.
    pub const IPV4_SOURCE: u8 = 31;
    /// Destination IPv4 network.
    pub const IPV4_DEST: u8 = 32;
    /// Source IPv6 network.
    pub const IPV6_SOURCE: u8 = 33;
    /// Destination IPv6 network.
    pub const IPV6_DEST: u8 = 34;
    /// IP TOS (mask, start, end).
    pub const IP_TOS: u8 = 35;
    /// IP protocol.
    pub const IP_PROTOCOL: u8 = 36;
    /// Ethertype.
    pub const ETHERTYPE: u8 = 37;
    /// ICMP (type, code, flags).
    pub const ICMP: u8 = 38;
    /// Source port range.
    pub const IP_SOURCE_PORT_RANGE: u8 = 39;
    /// Destination port range.
    pub const IP_DEST_PORT_RANGE: u8 = 40;
    /// Characteristics bits.
    pub const CHARACTERISTICS: u8 = 41;
    /// Frame size range.
    pub const FRAME_SIZE_RANGE: u8 = 42;
    /// Random probability.
    pub const RANDOM: u8 = 43;
    /// First tag operation (difference); 44..=50 are all tag operations.
    pub const TAGS_DIFFERENCE: u8 = 44;
    /// Last tag operation (receiver tag).
    pub const TAG_RECEIVER: u8 = 50;
    /// Integer range over frame bytes.
    pub const INTEGER_RANGE: u8 = 51;
}

/// A rule's field, by shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleField {
    /// No field (DROP, ACCEPT, BREAK, PRIORITY and other field-less types).
    None,
    /// TEE / WATCH / REDIRECT target.
    Forward {
        /// Target address.
        address: Address,
        /// Flags.
        flags: u32,
        /// Bytes to copy (0 = whole frame).
        length: u16,
    },
    /// A ZeroTier address.
    ZtAddress(Address),
    /// A MAC address.
    Mac(Mac),
    /// An IPv4 network.
    Ipv4(Ipv4Addr, u8),
    /// An IPv6 network.
    Ipv6(Ipv6Addr, u8),
    /// One byte (VLAN PCP/DEI, IP protocol).
    U8(u8),
    /// Two bytes (VLAN ID, ethertype).
    U16(u16),
    /// Four bytes (random probability).
    U32(u32),
    /// Eight bytes (characteristics).
    U64(u64),
    /// Three bytes (TOS mask/start/end, ICMP type/code/flags).
    Triple([u8; 3]),
    /// An inclusive u16 range (ports, frame sizes).
    Range(u16, u16),
    /// A tag ID and value.
    Tag {
        /// Tag ID.
        id: u32,
        /// Tag value.
        value: u32,
    },
    /// An integer range over frame bytes.
    IntegerRange {
        /// Range start.
        start: u64,
        /// Range end, inclusive (the wire carries start + end).
        end: u64,
        /// Bit index in the frame.
        index: u16,
        /// Format byte.
        format: u8,
    },
    /// A type ztcd does not know, kept raw.
    Unknown(Vec<u8>),
}

/// One rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The type byte: `code::*` in the low 6 bits, 0x80 NOT, 0x40 OR.
    pub type_byte: u8,
    /// The field.
    pub field: RuleField,
}

impl Rule {
    /// The unconditional ACCEPT rule.
    pub const ACCEPT: Self = Self {
        type_byte: code::ACCEPT,
        field: RuleField::None,
    };

    /// The rule type without the NOT/OR bits.
    pub fn code(&self) -> u8 {
        self.type_byte & 0x3f
    }

    fn field_len(&self) -> usize {
        match &self.field {
            RuleField::None => 0,
            RuleField::Forward { .. } => 14,
            RuleField::ZtAddress(_) | RuleField::Ipv4(..) => 5,
            RuleField::Mac(_) => 6,
            RuleField::Ipv6(..) => 17,
            RuleField::U8(_) => 1,
            RuleField::U16(_) => 2,
            RuleField::U32(_) | RuleField::Range(..) => 4,
            RuleField::U64(_) | RuleField::Tag { .. } => 8,
            RuleField::Triple(_) => 3,
            RuleField::IntegerRange { .. } => 19,
            RuleField::Unknown(b) => b.len(),
        }
    }

    /// Reads one rule: its type byte, the length of its field, then the field.
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let type_byte = r.u8()?;
        let len = usize::from(r.u8()?);
        let mut f = Reader::new(r.bytes(len)?);
        let field = Self::parse_field(type_byte & 0x3f, len, &mut f)?;
        Ok(Self { type_byte, field })
    }

    /// The field of a rule with code `c` from its `len` bytes in `f`: a known code's field
    /// must have its exact length; an unknown code's bytes are kept as they are.
    fn parse_field(c: u8, len: usize, f: &mut Reader<'_>) -> Result<RuleField> {
        let want = |n: usize| {
            if len == n {
                Ok(())
            } else {
                Err(Error::Malformed("rule length"))
            }
        };
        let field = match c {
            code::TEE | code::WATCH | code::REDIRECT => {
                want(14)?;
                Self::parse_forward(f)?
            }
            code::SOURCE_ZT_ADDRESS | code::DEST_ZT_ADDRESS => {
                want(5)?;
                RuleField::ZtAddress(Address::parse(f)?)
            }
            code::VLAN_ID | code::ETHERTYPE => {
                want(2)?;
                RuleField::U16(f.u16()?)
            }
            code::VLAN_PCP | code::VLAN_DEI | code::IP_PROTOCOL => {
                want(1)?;
                RuleField::U8(f.u8()?)
            }
            code::MAC_SOURCE | code::MAC_DEST => {
                want(6)?;
                RuleField::Mac(Mac::parse(f)?)
            }
            code::IPV4_SOURCE | code::IPV4_DEST => {
                want(5)?;
                RuleField::Ipv4(f.array::<4>()?.into(), f.u8()?)
            }
            code::IPV6_SOURCE | code::IPV6_DEST => {
                want(17)?;
                RuleField::Ipv6(f.array::<16>()?.into(), f.u8()?)
            }
            code::IP_TOS | code::ICMP => {
                want(3)?;
                RuleField::Triple(f.array()?)
            }
            code::IP_SOURCE_PORT_RANGE | code::IP_DEST_PORT_RANGE | code::FRAME_SIZE_RANGE => {
                want(4)?;
                RuleField::Range(f.u16()?, f.u16()?)
            }
            code::CHARACTERISTICS => {
                want(8)?;
                RuleField::U64(f.u64()?)
            }
            code::RANDOM => {
                want(4)?;
                RuleField::U32(f.u32()?)
            }
            code::TAGS_DIFFERENCE..=code::TAG_RECEIVER => {
                want(8)?;
                RuleField::Tag {
                    id: f.u32()?,
                    value: f.u32()?,
                }
            }
            code::INTEGER_RANGE => {
                want(19)?;
                Self::parse_integer_range(f)?
            }
            _ if len == 0 => RuleField::None,
            _ => RuleField::Unknown(f.take_rest().to_vec()),
        };
        Ok(field)
    }

    /// The field of a TEE, WATCH or REDIRECT action: address, flags, length.
    fn parse_forward(f: &mut Reader<'_>) -> Result<RuleField> {
        let address = Address::new(f.u64()?);
        Ok(RuleField::Forward {
            address,
            flags: f.u32()?,
            length: f.u16()?,
        })
    }

    /// The field of an integer range match: start, end (sent as end - start), index and
    /// format.
    fn parse_integer_range(f: &mut Reader<'_>) -> Result<RuleField> {
        let start = f.u64()?;
        let end = f.u64()?.wrapping_sub(start);
        Ok(RuleField::IntegerRange {
            start,
            end,
            index: f.u16()?,
            format: f.u8()?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u8(self.type_byte)?;
        w.u8(u8::try_from(self.field_len()).map_err(|_| Error::BadLength)?)?;
        match &self.field {
            RuleField::None => Ok(()),
            RuleField::Forward {
                address,
                flags,
                length,
            } => {
                w.u64(address.to_u64())?;
                w.u32(*flags)?;
                w.u16(*length)
            }
            RuleField::ZtAddress(a) => a.emit(w),
            RuleField::Mac(m) => m.emit(w),
            RuleField::Ipv4(ip, bits) => {
                w.bytes(&ip.octets())?;
                w.u8(*bits)
            }
            RuleField::Ipv6(ip, bits) => {
                w.bytes(&ip.octets())?;
                w.u8(*bits)
            }
            RuleField::U8(v) => w.u8(*v),
            RuleField::U16(v) => w.u16(*v),
            RuleField::U32(v) => w.u32(*v),
            RuleField::U64(v) => w.u64(*v),
            RuleField::Triple(t) => w.bytes(t),
            RuleField::Range(a, b) => {
                w.u16(*a)?;
                w.u16(*b)
            }
            RuleField::Tag { id, value } => {
                w.u32(*id)?;
                w.u32(*value)
            }
            RuleField::IntegerRange {
                start,
                end,
                index,
                format,
            } => {
                w.u64(*start)?;
                w.u64(start.wrapping_add(*end))?;
                w.u16(*index)?;
                w.u8(*format)
            }
            RuleField::Unknown(b) => w.bytes(b),
        }
    }
}

/// Parses a whole rules blob (at most `MAX_RULES` rules).
pub fn parse_rules(blob: &[u8]) -> Result<Vec<Rule>> {
    let mut r = Reader::new(blob);
    let mut rules = Vec::new();
    while !r.is_empty() {
        if rules.len() == MAX_RULES {
            return Err(Error::BadLength);
        }
        rules.push(Rule::parse(&mut r)?);
    }
    Ok(rules)
}

/// Bytes [`emit_rules`] writes.
pub fn rules_len(rules: &[Rule]) -> usize {
    rules.iter().map(|r| 2 + r.field_len()).sum()
}

/// Writes a rules blob.
pub fn emit_rules(rules: &[Rule], w: &mut Writer<'_>) -> Result<()> {
    if rules.len() > MAX_RULES {
        return Err(Error::BadLength);
    }
    rules.iter().try_for_each(|r| r.emit(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::codec::to_vec;

    #[test]
    fn accept_all_is_two_bytes() {
        let blob = to_vec(2, |w| emit_rules(&[Rule::ACCEPT], w)).unwrap();
        assert_eq!(blob, [0x01, 0x00]);
        assert_eq!(parse_rules(&blob).unwrap(), vec![Rule::ACCEPT]);
    }

    #[test]
    fn every_shape_round_trips() {
        let rules = vec![
            Rule {
                type_byte: code::ETHERTYPE | 0x80,
                field: RuleField::U16(0x0800),
            },
            Rule {
                type_byte: code::IPV4_DEST,
                field: RuleField::Ipv4([10, 0, 0, 0].into(), 8),
            },
            Rule {
                type_byte: code::IPV6_SOURCE | 0x40,
                field: RuleField::Ipv6(1.into(), 64),
            },
            Rule {
                type_byte: code::MAC_SOURCE,
                field: RuleField::Mac(Mac(0x0011_2233_4455)),
            },
            Rule {
                type_byte: code::SOURCE_ZT_ADDRESS,
                field: RuleField::ZtAddress(Address::new(7)),
            },
            Rule {
                type_byte: code::TEE,
                field: RuleField::Forward {
                    address: Address::new(9),
                    flags: 1,
                    length: 64,
                },
            },
            Rule {
                type_byte: code::ICMP,
                field: RuleField::Triple([8, 0, 1]),
            },
            Rule {
                type_byte: code::IP_DEST_PORT_RANGE,
                field: RuleField::Range(22, 80),
            },
            Rule {
                type_byte: code::CHARACTERISTICS,
                field: RuleField::U64(1 << 63),
            },
            Rule {
                type_byte: code::RANDOM,
                field: RuleField::U32(7),
            },
            Rule {
                type_byte: code::VLAN_PCP,
                field: RuleField::U8(3),
            },
            Rule {
                type_byte: 48,
                field: RuleField::Tag { id: 1, value: 2 },
            },
            Rule {
                type_byte: code::INTEGER_RANGE,
                field: RuleField::IntegerRange {
                    start: 5,
                    end: 10,
                    index: 3,
                    format: 0x81,
                },
            },
            Rule {
                type_byte: 60,
                field: RuleField::Unknown(vec![1, 2, 3]),
            },
            Rule {
                type_byte: code::BREAK,
                field: RuleField::None,
            },
            Rule::ACCEPT,
        ];
        let blob = to_vec(rules_len(&rules), |w| emit_rules(&rules, w)).unwrap();
        let parsed = parse_rules(&blob).unwrap();
        assert_eq!(parsed, rules);
        assert!(parse_rules(&[code::ETHERTYPE, 3, 0, 0, 0]).is_err());
        assert!(parse_rules(&[code::ETHERTYPE, 2, 0]).is_err());
    }
}
