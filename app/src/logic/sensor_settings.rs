//! Sensor settings as their form holds them: a bandwidth cap, one subnet per line and
//! one `id name` VLAN per line, turned into the API's request with the line that is
//! wrong, and back.

use shared::api::Sensor;
use shared::model::{
    BandwidthCap, DisplayName, SensorSettings, SettingsStatus, Subnet, Subnets, VlanId, VlanName,
    VlanNames,
};

use crate::logic::format::utc;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsDraft {
    /// Kbps; blank for no cap.
    pub cap: String,
    pub subnets: String,
    pub vlans: String,
}

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .map(str::trim)
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(n, line)| (n + 1, line))
}

impl SettingsDraft {
    pub fn from_settings(settings: &SensorSettings) -> Self {
        let join = |items: Vec<String>| items.join("\n");
        SettingsDraft {
            cap: settings
                .bandwidth_cap_kbps
                .map(|cap| cap.kbps().to_string())
                .unwrap_or_default(),
            subnets: join(
                settings
                    .subnets
                    .as_slice()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ),
            vlans: join(
                settings
                    .vlan_names
                    .as_slice()
                    .iter()
                    .map(|vlan| format!("{} {}", vlan.id.get(), vlan.name))
                    .collect(),
            ),
        }
    }

    /// The request, or what to fix.
    pub fn to_settings(&self) -> Result<SensorSettings, String> {
        let cap = self.cap.trim();
        let bandwidth_cap_kbps = if cap.is_empty() {
            None
        } else {
            let kbps: u32 = cap
                .parse()
                .map_err(|_| "Bandwidth cap: a whole number of Kbps, or blank".to_owned())?;
            Some(BandwidthCap::try_from(kbps).map_err(|e| format!("Bandwidth cap {e}"))?)
        };
        let subnets = lines(&self.subnets)
            .map(|(n, line)| Subnet::parse(line).map_err(|e| format!("Subnets, line {n}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let vlans = lines(&self.vlans)
            .map(|(n, line)| {
                let wrong = |what: String| format!("VLAN names, line {n}: {what}");
                let (id, name) = line
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| wrong("write the VLAN id, a space, then its name".into()))?;
                let id = id
                    .parse::<u16>()
                    .map_err(|e| e.to_string())
                    .and_then(VlanId::try_from)
                    .map_err(|_| wrong("the id must be 1 to 4094".into()))?;
                let name = DisplayName::parse(name).map_err(|e| wrong(format!("the name {e}")))?;
                Ok(VlanName { id, name })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(SensorSettings {
            bandwidth_cap_kbps,
            subnets: Subnets::try_from(subnets).map_err(|e| format!("Subnets {e}"))?,
            vlan_names: VlanNames::try_from(vlans).map_err(|e| format!("VLAN names {e}"))?,
        })
    }
}

/// The settings line of a sensor's facts.
pub fn settings_status(sensor: &Sensor) -> String {
    match &sensor.settings {
        None => "None defined here".to_owned(),
        Some(delivery) => {
            let revision = delivery.revision;
            match &delivery.status {
                SettingsStatus::Pending => {
                    format!("Revision {revision}: pending, sent with the next heartbeat")
                }
                SettingsStatus::Applied { at } => {
                    format!("Revision {revision}: applied {}", utc(*at))
                }
                SettingsStatus::Failed { at, error } => {
                    format!("Revision {revision}: failed {}: {error}", utc(*at))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(cap: &str, subnets: &str, vlans: &str) -> SettingsDraft {
        SettingsDraft {
            cap: cap.into(),
            subnets: subnets.into(),
            vlans: vlans.into(),
        }
    }

    #[test]
    fn a_filled_form_is_the_request_and_the_request_fills_the_form_again() {
        let settings = draft(
            " 1500 ",
            "10.1.2.3/16\n\n 192.168.0.0/24 ",
            "20 HMI\n10  PLC network",
        )
        .to_settings()
        .unwrap();
        assert_eq!(settings.bandwidth_cap_kbps.unwrap().kbps(), 1500);
        assert_eq!(
            SettingsDraft::from_settings(&settings),
            draft(
                "1500",
                "10.1.0.0/16\n192.168.0.0/24",
                "10 PLC network\n20 HMI"
            )
        );
        assert_eq!(
            draft("", "", "").to_settings().unwrap(),
            SensorSettings::default()
        );
    }

    #[test]
    fn a_wrong_line_is_named() {
        for (form, expected) in [
            (draft("fast", "", ""), "Bandwidth cap"),
            (draft("10", "", ""), "Bandwidth cap must be 64"),
            (draft("", "10.0.0.0/8\n10.0.0.0/40", ""), "Subnets, line 2"),
            (draft("", "", "4095 Too far"), "VLAN names, line 1: the id"),
            (draft("", "", "\n12"), "VLAN names, line 2"),
        ] {
            let error = form.to_settings().unwrap_err();
            assert!(error.starts_with(expected), "{error}");
        }
    }
}
