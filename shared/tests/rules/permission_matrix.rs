//! The permission matrix, checked cell by cell against a literal copy of the seed
//! table (seed 001), and every role × permission × scope decision derived from it.

use std::collections::BTreeSet;

use shared::authz::{
    Access, BuiltInRole, Decision, Grant, GrantScope, Permission, PermissionSet, Reach, Target,
};
use shared::model::SiteId;

/// Copied verbatim from seed 001_f44255f7b9219e63.txt, "Roles and permissions reference".
const SEED_TABLE: &str = r#"
| Action and scope|[Security Reader](../../role-based-access-control/built-in-roles.md#security-reader)  |[Security Admin](../../role-based-access-control/built-in-roles.md#security-admin)  |[Contributor](../../role-based-access-control/built-in-roles.md#contributor) | [Owner](../../role-based-access-control/built-in-roles.md#owner) |
|---------|---------|---------|---------|---------|
| **Grant permissions to others**<br>Apply per subscription or site | -       |  -       |   -      | ✔ |
|  **Onboard OT or Enterprise IoT sensors** [*](#enterprise-iot-security) <br>Apply per subscription only | -       |  ✔       |   ✔      | ✔ |
|  **Download OT sensor and on-premises management console software**<br>Apply per subscription only | ✔      |  ✔       |   ✔      | ✔ |
| **Download sensor endpoint details** <br>Apply per subscription only |  ✔    |  ✔       |   ✔      | ✔ |
|  **Download sensor activation files** <br>Apply per subscription only|   -     |   ✔      | ✔ | ✔ |
|  **View values on the Plans and pricing page** [*](#enterprise-iot-security) <br>Apply per subscription only| ✔      |   ✔     | ✔ | ✔ |
|  **Modify values on the Plans and pricing page** [*](#enterprise-iot-security) <br>Apply per subscription only| -       |   ✔     | ✔ | ✔ |
|  **View values on the Sites and sensors page** [*](#enterprise-iot-security)<br>Apply per subscription only  |   ✔   |   ✔    | ✔ | ✔|
|  **Modify values on the Sites and sensors page** [*](#enterprise-iot-security)<br>Apply per subscription only  |   -    |   ✔    | ✔ | ✔|
|  **Recover on-premises management console passwords** <br>Apply per subscription only  | -      |   ✔     | ✔ | ✔ |
|  **Download OT threat intelligence packages** <br>Apply per subscription only | ✔      |  ✔       |   ✔      | ✔ |
|  **Push OT threat intelligence updates** <br>Apply per subscription only | -     |   ✔     | ✔ | ✔ |
| **Onboard an Enterprise IoT plan from Microsoft 365 Defender** [*](#enterprise-iot-security)<br>Apply per subscription only | - | ✔ | - | - |
| **View Azure alerts** <br>Apply per subscription or site | ✔ | ✔ |✔ | ✔|
| **Modify Azure alerts (write access - change status, learn, download PCAP)** <br>Apply per subscription or site|  - | ✔ |✔ | ✔ |
| **View Azure device inventory**  <br>Apply per subscription or site  |  ✔ | ✔ |✔ | ✔|
| **Manage Azure device inventory (write access)**   <br>Apply per subscription or site | - | ✔ |✔ | ✔ |
| **View Azure workbooks**<br>Apply per subscription or site   | ✔ | ✔ |✔ | ✔ |
| **Manage Azure workbooks (write access)**  <br>Apply per subscription or site |  - | ✔ |✔ | ✔ |
"#;

/// One parsed row: the action's text, its "Apply per" scope, and a ✔/- per role.
struct SeedRow {
    action: String,
    scope: GrantScope,
    granted: [bool; 4],
}

fn seed_rows() -> Vec<SeedRow> {
    let mut lines = SEED_TABLE.trim().lines();
    let header = lines.next().expect("header row");
    let columns: Vec<&str> = header.split('|').map(str::trim).collect();
    // The role columns must be in BuiltInRole::ALL order for `granted` to line up.
    for (role, column) in BuiltInRole::ALL.iter().zip(&columns[2..6]) {
        assert!(
            column.starts_with(&format!("[{}]", role.display_name())),
            "column {column} is not {}",
            role.display_name()
        );
    }
    lines
        .skip(1) // the |---| separator
        .map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            assert_eq!(cells.len(), 5, "row {line}");
            let scope = if cells[0].contains("Apply per subscription or site") {
                GrantScope::SubscriptionOrSite
            } else if cells[0].contains("Apply per subscription only") {
                GrantScope::SubscriptionOnly
            } else {
                panic!("no scope in {line}")
            };
            let granted = [1, 2, 3, 4].map(|column| match cells[column] {
                "✔" => true,
                "-" => false,
                other => panic!("cell {other:?} in {line}"),
            });
            SeedRow {
                action: cells[0].to_owned(),
                scope,
                granted,
            }
        })
        .collect()
}

fn site(id: &str) -> SiteId {
    SiteId::parse(id).unwrap()
}

/// Each permission with words only its seed row holds: the pairing is by wording, never
/// by position, so reordering or relabelling `Permission` and the matrix together fails.
const ROW_WORDS: [(Permission, &str); 19] = [
    (Permission::GrantPermissions, "Grant permissions to others"),
    (
        Permission::OnboardSensors,
        "Onboard OT or Enterprise IoT sensors",
    ),
    (
        Permission::DownloadSensorSoftware,
        "Download OT sensor and on-premises management console software",
    ),
    (
        Permission::DownloadEndpointDetails,
        "Download sensor endpoint details",
    ),
    (
        Permission::DownloadActivationFiles,
        "Download sensor activation files",
    ),
    (
        Permission::ViewPlans,
        "View values on the Plans and pricing page",
    ),
    (
        Permission::ModifyPlans,
        "Modify values on the Plans and pricing page",
    ),
    (
        Permission::ViewSitesAndSensors,
        "View values on the Sites and sensors page",
    ),
    (
        Permission::ModifySitesAndSensors,
        "Modify values on the Sites and sensors page",
    ),
    (
        Permission::RecoverConsolePasswords,
        "Recover on-premises management console passwords",
    ),
    (
        Permission::DownloadTiPackages,
        "Download OT threat intelligence packages",
    ),
    (
        Permission::PushTiUpdates,
        "Push OT threat intelligence updates",
    ),
    (
        Permission::OnboardEnterpriseIotPlan,
        "Onboard an Enterprise IoT plan from Microsoft 365 Defender",
    ),
    (Permission::ViewAlerts, "View Azure alerts"),
    (Permission::ModifyAlerts, "Modify Azure alerts"),
    (Permission::ViewDevices, "View Azure device inventory"),
    (Permission::ManageDevices, "Manage Azure device inventory"),
    (Permission::ViewWorkbooks, "View Azure workbooks"),
    (Permission::ManageWorkbooks, "Manage Azure workbooks"),
];

/// The seed rows, each with the permission its wording names (exactly one must match).
fn rows_by_permission() -> Vec<(SeedRow, Permission)> {
    seed_rows()
        .into_iter()
        .map(|row| {
            let named: Vec<Permission> = ROW_WORDS
                .iter()
                .filter(|(_, words)| row.action.contains(words))
                .map(|&(permission, _)| permission)
                .collect();
            assert_eq!(named.len(), 1, "row {} names {named:?}", row.action);
            (row, named[0])
        })
        .collect()
}

#[test]
fn the_seed_table_has_one_row_per_permission_in_order() {
    let rows = rows_by_permission();
    assert_eq!(rows.len(), Permission::ALL.len());
    let named: BTreeSet<Permission> = rows.iter().map(|&(_, p)| p).collect();
    assert_eq!(
        named.len(),
        Permission::ALL.len(),
        "a permission named twice"
    );
    // The console lists permissions in `Permission::ALL` order: the seed's.
    let order: Vec<Permission> = rows.iter().map(|&(_, p)| p).collect();
    assert_eq!(order, Permission::ALL);
}

#[test]
fn every_role_permission_cell_matches_the_seed_table() {
    for (row, permission) in rows_by_permission() {
        for (role, granted) in BuiltInRole::ALL.into_iter().zip(row.granted) {
            assert_eq!(
                role.grants(permission),
                granted,
                "{} × {permission}",
                role.id()
            );
            assert_eq!(role.permissions().contains(permission), granted);
        }
    }
}

#[test]
fn every_permission_grant_scope_matches_the_seed_table() {
    for (row, permission) in rows_by_permission() {
        assert_eq!(permission.grant_scope(), row.scope, "{permission}");
        assert_eq!(
            PermissionSet::SITE_GRANTABLE.contains(permission),
            row.scope == GrantScope::SubscriptionOrSite
        );
    }
}

#[test]
fn the_roles_are_not_a_hierarchy() {
    let holders = |permission| -> Vec<BuiltInRole> {
        BuiltInRole::ALL
            .into_iter()
            .filter(|role| role.grants(permission))
            .collect()
    };
    assert_eq!(
        holders(Permission::OnboardEnterpriseIotPlan),
        [BuiltInRole::SecurityAdmin]
    );
    assert_eq!(holders(Permission::GrantPermissions), [BuiltInRole::Owner]);
}

fn access_with(role: BuiltInRole, reach: Reach) -> Access {
    Access::from_grants([Grant {
        permissions: role.permissions(),
        reach,
    }])
}

fn expected(allowed: bool) -> Decision {
    if allowed {
        Decision::Allow
    } else {
        Decision::Deny
    }
}

#[test]
fn every_role_permission_and_scope_decides_as_the_seed_table_says() {
    let plant = site("plant-1");
    let other = site("plant-2");
    for (row, permission) in rows_by_permission() {
        let site_grantable = row.scope == GrantScope::SubscriptionOrSite;
        for (role, granted) in BuiltInRole::ALL.into_iter().zip(row.granted) {
            let case = format!("{} × {permission}", role.id());
            // GIVEN a subscription assignment: THEN the subscription and every site
            let subscription_wide = access_with(role, Reach::WholeSubscription);
            assert_eq!(
                subscription_wide.decide(permission, Target::Subscription),
                expected(granted),
                "{case} at subscription via subscription assignment"
            );
            assert_eq!(
                subscription_wide.decide(permission, Target::Site(&plant)),
                expected(granted),
                "{case} at a site via subscription assignment"
            );
            // GIVEN a site assignment: THEN only site-grantable permissions, only there
            let at_site = access_with(role, Reach::Sites(BTreeSet::from([plant.clone()])));
            assert_eq!(
                at_site.decide(permission, Target::Site(&plant)),
                expected(granted && site_grantable),
                "{case} at the assigned site"
            );
            assert_eq!(
                at_site.decide(permission, Target::Site(&other)),
                Decision::Deny,
                "{case} at another site"
            );
            assert_eq!(
                at_site.decide(permission, Target::Subscription),
                Decision::Deny,
                "{case} at subscription via site assignment"
            );
        }
    }
}
