//! Any bytes as the body of each ingest endpoint: parsed exactly as the handlers parse
//! them, never a panic; what parses serializes back to a body that parses the same.
#![no_main]

use functions::http::json::Body;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::{Heartbeat, IngestAlerts, IngestDevices};

fn round_trips<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(parsed) = Body::from_bytes(data.to_vec().into()).parse::<T>() {
        let again = serde_json::to_vec(&parsed).expect("a parsed body serializes");
        let reparsed = Body::from_bytes(again.into())
            .parse::<T>()
            .expect("what was accepted is accepted again");
        assert_eq!(parsed, reparsed);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trips::<Heartbeat>(data);
    round_trips::<IngestAlerts>(data);
    round_trips::<IngestDevices>(data);
});
