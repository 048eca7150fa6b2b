//! Names of the subscription's sensors and zones, for the grids' columns: loaded once
//! per page, empty (ids shown instead) for a user who may not read them.

use std::collections::BTreeMap;

use leptos::prelude::*;
use shared::model::{SensorId, ZoneId};

use crate::api::{ApiError, sensors, sites};
use crate::components::load::Load;
use crate::logic::query::QueryPairs;
use crate::tenant::use_tenant;
use crate::use_api;

pub type SensorNames = BTreeMap<SensorId, String>;
pub type ZoneNames = BTreeMap<ZoneId, String>;

pub fn sensor_names() -> Signal<SensorNames> {
    let api = use_api();
    let tenant = use_tenant();
    let names = Load::new(move || {
        let sub = tenant.with(|t| t.id.clone());
        async move {
            let all = sensors::all(api, &sub, &QueryPairs::default()).await?;
            Ok::<_, ApiError>(
                all.into_iter()
                    .map(|s| (s.id, s.name.to_string()))
                    .collect::<SensorNames>(),
            )
        }
    });
    Signal::derive(move || names.get().and_then(Result::ok).unwrap_or_default())
}

pub fn sensor_name(names: &SensorNames, id: &SensorId) -> String {
    names
        .get(id)
        .cloned()
        .unwrap_or_else(|| format!("sensor {id}"))
}

/// Zone names of every site the user sees.
pub fn zone_names() -> Signal<ZoneNames> {
    let api = use_api();
    let tenant = use_tenant();
    let zones = Load::new(move || {
        let (sub, site_ids) = tenant.with(|t| {
            (
                t.id.clone(),
                t.sites.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            )
        });
        async move {
            let mut names = ZoneNames::new();
            for site in site_ids {
                let zones = sites::zones(api, &sub, &site).await?;
                names.extend(
                    zones
                        .into_iter()
                        .map(|zone| (zone.id, zone.name.to_string())),
                );
            }
            Ok::<_, ApiError>(names)
        }
    });
    Signal::derive(move || zones.get().and_then(Result::ok).unwrap_or_default())
}

pub fn zone_name(names: &ZoneNames, id: Option<&ZoneId>) -> String {
    id.and_then(|z| names.get(z).cloned()).unwrap_or_default()
}
