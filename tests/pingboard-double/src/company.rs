//! A deterministic generated company: the double serves it, and tests compare what a sync stored against it
//! (the ground truth). Same spec, same company, every time.

use std::collections::HashMap;

use serde_json::{Value, json};

/// How a user's `reports_to_id` appears on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manager {
    /// An integer id (of an existing user, or dangling).
    Id(u64),
    Null,
    /// The field is left out.
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupKind {
    Group,
    Location,
    Department,
}

impl GroupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Group => "group",
            GroupKind::Location => "location",
            GroupKind::Department => "department",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub job_title: String,
    pub reports_to: Manager,
    pub start_date: Option<String>,
    pub time_zone: String,
    pub locale: String,
    pub phone: String,
    /// Empty when the user has none.
    pub nickname: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub kind: GroupKind,
    pub description: String,
    /// Member user ids, in order; may include ids of users that do not exist (dangling).
    pub member_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompanySpec {
    pub users: usize,
    /// Groups of type `group`; locations and departments come on top.
    pub groups: usize,
    pub locations: usize,
    pub departments: usize,
    /// Adds members that are not users (one per 25 groups) to exercise dangling references.
    pub dangling_members: bool,
}

impl CompanySpec {
    /// A company of `users` people with about one team per 20 of them, 5 locations and 8 departments.
    pub fn sized(users: usize) -> Self {
        Self { users, groups: users.div_ceil(20), locations: 5.min(users.max(1)), departments: 8.min(users.max(1)), dangling_members: false }
    }
}

/// User id → the ids of its groups, locations and departments (`links.groups/locations/departments`).
pub type UserLinks = HashMap<String, [Vec<String>; 3]>;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Company {
    pub users: Vec<User>,
    /// All group-like records in listing order: groups, then locations, then departments, interleaved by id.
    pub groups: Vec<Group>,
}

const FIRST: [&str; 16] = [
    "Ada", "José", "Zoë", "Øyvind", "Anna", "Şükrü", "Ngọc", "Chidi", "Mei", "Ólafur", "Priya", "Léa", "Jürgen", "Siobhán",
    "Kenji", "Amélie",
];
const LAST: [&str; 16] = [
    "Lovelace", "García", "Müller", "Nguyễn", "O'Brien", "Østergaard", "Kowalski", "Smith", "Dubois", "Rossi", "Тарасова",
    "李", "Haddad", "Okafor", "Fernández", "Björk",
];
const TITLES: [&str; 8] = ["Engineer", "Designer", "Account Executive", "People Partner", "Analyst", "Director", "", "Support Lead"];
const CITIES: [&str; 8] = ["Lisbon", "São Paulo", "Zürich", "Kraków", "Tōkyō", "Austin", "Dublin", "Reykjavík"];
const DEPARTMENTS: [&str; 8] = ["Engineering", "Design", "Sales", "People", "Finance", "Operations", "Support", "Legal"];
const ZONES: [&str; 4] = ["Europe/Lisbon", "America/New_York", "Asia/Tokyo", "America/Sao_Paulo"];
const LOCALES: [&str; 4] = ["en-US", "pt-PT", "ja-JP", "de-CH"];

/// User ids start here, group ids at `GROUP_ID_BASE`: both are strings on the wire.
pub const USER_ID_BASE: u64 = 100_000;
pub const GROUP_ID_BASE: u64 = 5_000;
/// An id no user has: managers and members that point nowhere.
pub const DANGLING_USER_ID: u64 = 99_999_999;

impl Company {
    pub fn generate(spec: CompanySpec) -> Self {
        let users: Vec<User> = (0..spec.users).map(generate_user).collect();
        let mut groups = Vec::with_capacity(spec.groups + spec.locations + spec.departments);
        let kinds = [(GroupKind::Location, spec.locations), (GroupKind::Department, spec.departments), (GroupKind::Group, spec.groups)];
        let mut next_id = GROUP_ID_BASE;
        for (kind, count) in kinds {
            for k in 0..count {
                let (name, description) = match kind {
                    GroupKind::Location => (format!("{} {}", CITIES[k % CITIES.len()], k / CITIES.len() + 1), format!("Office {k}")),
                    GroupKind::Department => (format!("{} {}", DEPARTMENTS[k % DEPARTMENTS.len()], k / DEPARTMENTS.len() + 1), String::new()),
                    GroupKind::Group => (format!("Team {k} — {}", FIRST[k % FIRST.len()]), format!("Squad number {k}")),
                };
                groups.push(Group { id: next_id.to_string(), name, kind, description, member_ids: Vec::new() });
                next_id += 1;
            }
        }
        let of_kind = |kind: GroupKind| -> Vec<usize> { groups.iter().enumerate().filter(|(_, g)| g.kind == kind).map(|(i, _)| i).collect() };
        let (locations, departments, teams) = (of_kind(GroupKind::Location), of_kind(GroupKind::Department), of_kind(GroupKind::Group));
        for (i, user) in users.iter().enumerate() {
            // Everyone has one location and one department; most people are in one or two teams.
            if !locations.is_empty() {
                groups[locations[i % locations.len()]].member_ids.push(user.id.clone());
            }
            if !departments.is_empty() {
                groups[departments[(i / 3) % departments.len()]].member_ids.push(user.id.clone());
            }
            if !teams.is_empty() {
                // Every tenth team stays empty (`"links": {}` on the wire).
                let populated: Vec<usize> = teams.iter().copied().enumerate().filter(|(k, _)| k % 10 != 9).map(|(_, g)| g).collect();
                if !populated.is_empty() {
                    groups[populated[i % populated.len()]].member_ids.push(user.id.clone());
                    if i % 3 == 0 {
                        groups[populated[(i * 7 + 3) % populated.len()]].member_ids.push(user.id.clone());
                    }
                }
            }
        }
        for group in &mut groups {
            group.member_ids.dedup();
        }
        if spec.dangling_members {
            for group in groups.iter_mut().step_by(25) {
                group.member_ids.push(DANGLING_USER_ID.to_string());
            }
        }
        // Pingboard lists groups by id; keep that order.
        groups.sort_by_key(|g| g.id.parse::<u64>().unwrap_or(u64::MAX));
        Company { users, groups }
    }

    /// The id the next created user gets.
    pub fn next_user_id(&self) -> String {
        let max = self.users.iter().filter_map(|u| u.id.parse::<u64>().ok()).max().unwrap_or(USER_ID_BASE - 1);
        (max + 1).to_string()
    }

    /// The id the next created group gets.
    pub fn next_group_id(&self) -> String {
        let max = self.groups.iter().filter_map(|g| g.id.parse::<u64>().ok()).max().unwrap_or(GROUP_ID_BASE - 1);
        (max + 1).to_string()
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// `links` of every user, derived from group memberships.
    pub fn user_links(&self) -> UserLinks {
        let mut links = UserLinks::new();
        for group in &self.groups {
            let slot = match group.kind {
                GroupKind::Group => 0,
                GroupKind::Location => 1,
                GroupKind::Department => 2,
            };
            for member in &group.member_ids {
                links.entry(member.clone()).or_default()[slot].push(group.id.clone());
            }
        }
        links
    }

    /// The user as Pingboard sends it.
    pub fn user_json(&self, user: &User, links: Option<&[Vec<String>; 3]>) -> Value {
        let mut link_map = serde_json::Map::new();
        if let Some([groups, locations, departments]) = links {
            for (rel, ids) in [("groups", groups), ("locations", locations), ("departments", departments)] {
                if !ids.is_empty() {
                    link_map.insert(rel.into(), json!(ids));
                }
            }
        }
        let mut record = json!({
            "id": user.id,
            "created_at": "2021-03-04T05:06:07Z",
            "updated_at": "2026-10-01T12:00:00Z",
            "roles": [],
            "phone_message_channel": true,
            "email_message_channel": true,
            "avatar_urls": {"original": format!("https://images.example.test/{}.png", user.id)},
            "start_date": user.start_date,
            "birth_date": "0000-05-09",
            "time_zone": user.time_zone,
            "locale": user.locale,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "nickname": user.nickname,
            "email": user.email,
            "phone": user.phone,
            "office_phone": user.phone,
            "job_title": user.job_title,
            "bio": "",
            "skills": [],
            "interests": [],
            "custom_fields": {"f43393": null},
            "links": link_map,
        });
        match user.reports_to {
            Manager::Id(id) => record["reports_to_id"] = json!(id),
            Manager::Null => record["reports_to_id"] = Value::Null,
            Manager::Absent => {}
        }
        record
    }

    /// The group as Pingboard sends it; empty member lists are left out (`"links": {}`).
    pub fn group_json(&self, group: &Group) -> Value {
        let links = if group.member_ids.is_empty() { json!({}) } else { json!({"users": group.member_ids}) };
        let mut record = json!({
            "id": group.id,
            "name": group.name,
            "description": group.description,
            "created_at": "2020-01-02T03:04:05Z",
            "updated_at": "2026-09-30T08:00:00Z",
            "memberships_count": group.member_ids.len(),
            "logo_urls": null,
            "type": group.kind.as_str(),
            "custom_fields": {},
            "visible_to_owner": true,
            "visible_to_group": true,
            "visible_to_other": false,
            "editable_by_owner": false,
            "links": links,
        });
        if group.kind == GroupKind::Location {
            record["address"] = json!(format!("{} Main Street", group.id));
            record["latitude"] = json!(38.7);
            record["longitude"] = json!(-9.1);
        }
        record
    }
}

fn generate_user(i: usize) -> User {
    let id = USER_ID_BASE + i as u64;
    let first = FIRST[i % FIRST.len()];
    let last = LAST[(i / FIRST.len()) % LAST.len()];
    let reports_to = match i {
        0 => Manager::Null,
        _ if i % 97 == 5 => Manager::Id(DANGLING_USER_ID),
        _ if i % 50 == 7 => Manager::Absent,
        _ if i % 41 == 3 => Manager::Null,
        _ => Manager::Id(USER_ID_BASE + ((i - 1) / 8) as u64),
    };
    User {
        id: id.to_string(),
        first_name: first.to_string(),
        last_name: last.to_string(),
        email: format!("user{id}@example.test"),
        job_title: TITLES[i % TITLES.len()].to_string(),
        reports_to,
        start_date: if i % 13 == 4 { None } else { Some(format!("20{:02}-{:02}-{:02}", 10 + i % 16, 1 + i % 12, 1 + i % 28)) },
        time_zone: ZONES[i % ZONES.len()].to_string(),
        locale: LOCALES[i % LOCALES.len()].to_string(),
        phone: format!("+1 555 {:04}", i % 10_000),
        nickname: if i % 5 == 2 { format!("{}{}", &first[..first.char_indices().nth(2).map_or(first.len(), |(at, _)| at)], i % 10) } else { String::new() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_varied() {
        let spec = CompanySpec::sized(1000);
        let a = Company::generate(spec);
        assert_eq!(a, Company::generate(spec));
        assert_eq!(a.users.len(), 1000);
        assert_eq!(a.groups.len(), 50 + 5 + 8);
        assert!(a.groups.iter().any(|g| g.kind == GroupKind::Group && g.member_ids.is_empty()), "some empty teams");
        assert!(a.users.iter().any(|u| u.reports_to == Manager::Absent));
        assert!(a.users.iter().any(|u| u.reports_to == Manager::Null));
        assert!(a.users.iter().any(|u| u.reports_to == Manager::Id(DANGLING_USER_ID)));
        assert!(a.users.iter().any(|u| !u.first_name.is_ascii() || !u.last_name.is_ascii()));
        let empty = Company::generate(CompanySpec { users: 0, groups: 0, locations: 0, departments: 0, dangling_members: false });
        assert!(empty.users.is_empty() && empty.groups.is_empty());
    }
}
