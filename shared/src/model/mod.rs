//! Domain types and their rules, one file per concept.

mod alert;
mod alert_trail;
mod device;
mod device_estimate;
mod device_group;
mod ids;
mod notification;
mod plan;
mod sensor;
mod sensor_settings;
mod site;
mod suppression;
mod tags;
mod text;
mod threat_intelligence;

pub use alert::*;
pub use alert_trail::*;
pub use device::*;
pub use device_estimate::*;
pub use device_group::*;
pub use ids::*;
pub use notification::*;
pub use plan::*;
pub use sensor::*;
pub use sensor_settings::*;
pub use site::*;
pub use suppression::*;
pub use tags::*;
pub use text::*;
pub use threat_intelligence::*;
