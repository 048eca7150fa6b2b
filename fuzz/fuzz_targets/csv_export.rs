//! Any name, type and vendor a sensor may report for a device, through the inventory's
//! CSV export and back through a CSV reader: one row of the export's width, no cell a
//! spreadsheet would run as a formula, and every text as reported behind its guard.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::api::{DEVICE_EXPORT_COLUMNS, device_export_row};
use shared::model::Device;

const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.splitn(3, '\u{0}');
    let (name, kind, vendor) = (
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
    );
    let device = serde_json::json!({
        "id": "01HZXTESTDEVICE0000000000", "site_id": "s1", "zone_id": null, "sensor_id": "n1",
        "ip": "10.0.0.1", "mac": "00:1b:44:11:3a:b7",
        "name": name, "type": kind, "vendor": vendor,
        "authorized": false, "endpoint_managed": false,
        "first_seen": "2024-03-01T10:00:00Z", "last_activity": "2024-03-01T10:00:00Z",
    });
    // Only what the API would accept as a device's names.
    let Ok(device) = serde_json::from_value::<Device>(device) else {
        return;
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(device_export_row(&device))
        .expect("a row");
    let written = writer.into_inner().expect("flushed");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(written.as_slice());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    assert_eq!(rows.len(), 1, "one device, one row");
    let row = &rows[0];
    assert_eq!(row.len(), DEVICE_EXPORT_COLUMNS.len());
    for cell in row.iter() {
        assert!(
            !cell.starts_with(FORMULA_STARTS),
            "{cell:?} would run as a formula"
        );
    }
    let column = |wanted: &str| {
        DEVICE_EXPORT_COLUMNS
            .iter()
            .position(|c| *c == wanted)
            .unwrap()
    };
    for (wanted, value) in [
        ("name", &device.name),
        ("type", &device.device_type),
        ("vendor", &device.vendor),
    ] {
        let original = value.as_ref().map(ToString::to_string).unwrap_or_default();
        let cell = &row[column(wanted)];
        let shown = cell
            .strip_prefix('\'')
            .filter(|_| original.starts_with(FORMULA_STARTS));
        assert_eq!(shown.unwrap_or(cell), original, "{wanted}");
    }
});
