//! Property tests of every validated type: parsing never panics, and accepts exactly
//! what its rule says, compared with an independent statement of that rule.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use shared::authz::BuiltInRole;
use shared::model::{
    AddressClass, CommittedDevices, DisplayName, Email, MacAddress, RoleId, SiteId,
    SoftwareVersion, TagKey, TagValue, Tags, classify_address,
};

/// Strings mixing valid characters with the usual troublemakers.
fn messy_text(max_len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::char::range('a', 'z'),
            2 => proptest::char::range('A', 'Z'),
            2 => proptest::char::range('0', '9'),
            2 => proptest::sample::select(vec!['-', '_', '.', ':', '/', '@', ' ', '\t', '\n', '\u{7}', 'é', '💡', '\u{0}']),
        ],
        0..max_len,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #[test]
    fn committed_devices_are_accepted_iff_a_positive_multiple_of_100_up_to_the_maximum(
        devices in prop_oneof![any::<u64>(), 0u64..2_000_000, (0u64..20_001).prop_map(|n| n * 100)]
    ) {
        let expected = devices > 0 && devices % 100 == 0 && devices <= 1_000_000;
        let parsed = CommittedDevices::new(devices);
        prop_assert_eq!(parsed.is_ok(), expected);
        if let Ok(parsed) = parsed {
            prop_assert_eq!(u64::from(parsed.get()), devices);
        }
    }

    #[test]
    fn ids_are_accepted_iff_1_to_64_letters_digits_dashes_or_underscores(raw in messy_text(80)) {
        let expected = !raw.is_empty()
            && raw.len() <= 64
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        prop_assert_eq!(SiteId::parse(raw.clone()).is_ok(), expected);
        let is_built_in_id = BuiltInRole::ALL.iter().any(|role| role.id().eq_ignore_ascii_case(&raw));
        let role_expected = expected && !is_built_in_id;
        prop_assert_eq!(RoleId::parse(raw).is_ok(), role_expected);
    }

    #[test]
    fn display_names_are_the_trimmed_text_when_1_to_100_chars_without_control_chars(raw in messy_text(120)) {
        let trimmed = raw.trim();
        let expected = !trimmed.is_empty()
            && trimmed.chars().count() <= 100
            && !trimmed.chars().any(char::is_control);
        match DisplayName::parse(&raw) {
            Ok(name) => {
                prop_assert!(expected);
                prop_assert_eq!(name.as_str(), trimmed);
            }
            Err(_) => prop_assert!(!expected),
        }
    }

    #[test]
    fn emails_never_panic_and_accepted_ones_are_lower_case_fixed_points(raw in messy_text(40)) {
        if let Ok(email) = Email::parse(&raw) {
            prop_assert_eq!(email.as_str(), email.as_str().to_ascii_lowercase());
            prop_assert_eq!(email.as_str().matches('@').count(), 1);
            prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
        }
    }

    #[test]
    fn well_formed_emails_are_accepted_in_any_case(
        local in "[a-zA-Z0-9]{1,12}(\\.[a-zA-Z0-9+_-]{1,8})?",
        domain in "[a-zA-Z0-9]{1,12}(-[a-z0-9]{1,5})?\\.[a-zA-Z]{2,6}",
    ) {
        let raw = format!("{local}@{domain}");
        match Email::parse(&raw) {
            Ok(email) => prop_assert_eq!(email.as_str(), raw.to_ascii_lowercase()),
            Err(error) => prop_assert!(false, "{} refused: {}", raw, error),
        }
    }

    #[test]
    fn tag_keys_are_accepted_iff_1_to_128_chars_of_the_key_charset(raw in messy_text(140)) {
        let expected = !raw.is_empty()
            && raw.len() <= 128
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c));
        prop_assert_eq!(TagKey::parse(&raw).is_ok(), expected);
    }

    #[test]
    fn tag_values_are_accepted_iff_at_most_256_chars_without_control_chars(raw in messy_text(270)) {
        let expected = raw.chars().count() <= 256 && !raw.chars().any(char::is_control);
        prop_assert_eq!(TagValue::parse(&raw).is_ok(), expected);
    }

    #[test]
    fn tag_maps_are_accepted_iff_at_most_50_tags(count in 0usize..70) {
        let map: serde_json::Map<String, serde_json::Value> = (0..count)
            .map(|index| (format!("key-{index}"), serde_json::Value::from("v")))
            .collect();
        let parsed = serde_json::from_value::<Tags>(serde_json::Value::Object(map));
        prop_assert_eq!(parsed.is_ok(), count <= 50);
    }

    #[test]
    fn mac_addresses_round_trip_in_any_case_and_separator(
        octets in any::<[u8; 6]>(),
        dash in any::<bool>(),
        upper in any::<bool>(),
    ) {
        let separator = if dash { "-" } else { ":" };
        let text = octets.map(|octet| format!("{octet:02x}")).join(separator);
        let text = if upper { text.to_ascii_uppercase() } else { text };
        let mac = MacAddress::parse(&text).unwrap();
        prop_assert_eq!(mac.octets(), octets);
        prop_assert_eq!(MacAddress::parse(&mac.to_string()), Ok(mac));
        prop_assert_eq!(mac.to_string(), octets.map(|octet| format!("{octet:02x}")).join(":"));
    }

    #[test]
    fn mac_addresses_are_accepted_iff_six_hex_pairs_with_one_separator(raw in "[0-9a-fA-FgG:\\-. ]{0,20}") {
        let pairs_with = |separator: char| {
            let pairs: Vec<&str> = raw.split(separator).collect();
            pairs.len() == 6
                && pairs.iter().all(|pair| pair.len() == 2 && pair.chars().all(|c| c.is_ascii_hexdigit()))
        };
        let expected = pairs_with(':') || pairs_with('-');
        prop_assert_eq!(MacAddress::parse(&raw).is_ok(), expected);
    }

    #[test]
    fn ipv4_addresses_classify_by_their_ranges(bits in any::<u32>()) {
        let in_range = |network: u32, prefix: u32| bits >> (32 - prefix) == network >> (32 - prefix);
        let expected = if in_range(0xE000_0000, 4) {
            AddressClass::Multicast
        } else if bits == u32::MAX {
            AddressClass::Broadcast
        } else if in_range(0x0A00_0000, 8)
            || in_range(0xAC10_0000, 12)
            || in_range(0xC0A8_0000, 16)
            || in_range(0x6440_0000, 10)
            || in_range(0xA9FE_0000, 16)
            || in_range(0x7F00_0000, 8)
        {
            AddressClass::Local
        } else {
            AddressClass::PublicInternet
        };
        let ip = Ipv4Addr::from(bits);
        prop_assert_eq!(classify_address(IpAddr::V4(ip)), expected);
        prop_assert_eq!(classify_address(IpAddr::V6(ip.to_ipv6_mapped())), expected);
    }

    #[test]
    fn ipv6_addresses_classify_by_their_ranges(bits in any::<u128>()) {
        let ip = Ipv6Addr::from(bits);
        let first = (bits >> 112) as u16;
        prop_assume!(ip.to_ipv4_mapped().is_none());
        let expected = if first >> 8 == 0xff {
            AddressClass::Multicast
        } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80 || bits == 1 {
            AddressClass::Local
        } else {
            AddressClass::PublicInternet
        };
        prop_assert_eq!(classify_address(IpAddr::V6(ip)), expected);
    }

    #[test]
    fn software_versions_order_like_their_zero_padded_numbers(
        left in proptest::collection::vec(0u32..30, 1..=4),
        right in proptest::collection::vec(0u32..30, 1..=4),
    ) {
        let text = |parts: &[u32]| parts.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
        let padded = |parts: &[u32]| {
            let mut padded = [0; 4];
            padded[..parts.len()].copy_from_slice(parts);
            padded
        };
        let (l, r) = (SoftwareVersion::parse(&text(&left)).unwrap(), SoftwareVersion::parse(&text(&right)).unwrap());
        prop_assert_eq!(l.cmp(&r), padded(&left).cmp(&padded(&right)));
        prop_assert_eq!(l.is_supported(), padded(&left) >= [22, 1, 0, 0]);
    }

    #[test]
    fn a_software_version_is_one_to_four_dotted_numbers_and_keeps_its_text(raw in "[0-9.a ]{0,24}") {
        let pieces: Vec<&str> = raw.split('.').collect();
        let expected = (1..=4).contains(&pieces.len())
            && pieces.iter().all(|piece| {
                !piece.is_empty()
                    && piece.bytes().all(|b| b.is_ascii_digit())
                    && piece.parse::<u64>().is_ok_and(|n| n <= u64::from(u32::MAX))
            });
        match SoftwareVersion::parse(&raw) {
            Ok(version) => {
                prop_assert!(expected, "{raw:?} accepted");
                prop_assert_eq!(version.to_string(), raw.clone());
                prop_assert_eq!(SoftwareVersion::parse(version.as_str()), Ok(version));
            }
            Err(_) => prop_assert!(!expected, "{raw:?} refused"),
        }
    }
}
