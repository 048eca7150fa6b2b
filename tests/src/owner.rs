//! A signed-in user owning a fresh subscription, with the calls the area tests share.

use serde_json::{Value, json};

use crate::vigil::{Answer, Api, Vigil};

/// A user owning a fresh subscription.
pub struct Owner {
    pub api: Api,
    pub token: String,
    pub sub: String,
}

impl Owner {
    pub async fn new(vigil: &Vigil, email: &str) -> Self {
        let api = vigil.api();
        let token = api.dev_login(email).await;
        let created = api
            .post("/subscriptions", Some(&token), json!({"name": "Plants"}))
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        let sub = created.body["id"].as_str().unwrap().to_owned();
        Self { api, token, sub }
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/subscriptions/{}{rest}", self.sub)
    }

    pub async fn get(&self, rest: &str) -> Answer {
        self.api.get(&self.path(rest), Some(&self.token)).await
    }

    pub async fn post(&self, rest: &str, body: Value) -> Answer {
        self.api
            .post(&self.path(rest), Some(&self.token), body)
            .await
    }

    pub async fn patch(&self, rest: &str, body: Value) -> Answer {
        self.api
            .patch(&self.path(rest), Some(&self.token), body)
            .await
    }

    pub async fn delete(&self, rest: &str) -> Answer {
        self.api.delete(&self.path(rest), Some(&self.token)).await
    }

    /// Creates a site and returns its id.
    pub async fn site(&self, name: &str) -> String {
        let created = self.post("/sites", json!({"display_name": name})).await;
        assert_eq!(created.status, 201, "{created:?}");
        created.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a zone and returns its id.
    pub async fn zone(&self, site: &str, name: &str) -> String {
        let created = self
            .post(&format!("/sites/{site}/zones"), json!({"name": name}))
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        created.body["id"].as_str().unwrap().to_owned()
    }

    /// Gives `email` a role (at `site`, or at subscription scope) and signs them in.
    pub async fn member(&self, email: &str, role: &str, site: Option<&str>) -> String {
        let assigned = self
            .post(
                "/role-assignments",
                json!({"principal": email, "role": role, "site_id": site}),
            )
            .await;
        assert_eq!(assigned.status, 201, "assigning {role}: {assigned:?}");
        self.api.dev_login(email).await
    }

    /// Every page of a list, following `next_cursor`.
    pub async fn all(&self, rest: &str, limit: u32) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("{rest}?limit={limit}&cursor={c}"),
                None => format!("{rest}?limit={limit}"),
            };
            let page = self.get(&path).await;
            assert_eq!(page.status, 200, "{page:?}");
            let found = page.body["items"].as_array().unwrap();
            assert!(found.len() <= limit as usize);
            items.extend(found.iter().cloned());
            cursor = page.body["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                return items;
            }
        }
    }
}

/// Asserts an error answer: its status and the contract's code.
pub fn expect(answer: &Answer, status: u16, code: &str) {
    assert_eq!(
        (answer.status, answer.error_code()),
        (status, code),
        "{answer:?}"
    );
}
