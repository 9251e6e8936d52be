//! The roles a staff account can have, and what each may do on the desk.

varsel_protocol::message::code_enum!(
    /// A staff account's role.
    Role {
        /// Raises alerts and follows them (a counsellor, a head teacher).
        SchoolStaff = "school_staff",
        /// School staff who also manage the school's accounts.
        SchoolAdmin = "school_admin",
        /// Reads the agency's inbox, opens alerts and acknowledges them.
        AgencyOfficer = "agency_officer",
        /// An agency officer who also manages the agency's accounts.
        AgencyAdmin = "agency_admin",
    }
);

impl Role {
    /// Whether the role raises and follows a school's alerts.
    pub fn works_school(self) -> bool {
        matches!(self, Role::SchoolStaff | Role::SchoolAdmin)
    }

    /// Whether the role works an agency's inbox (reads, opens, acknowledges).
    pub fn works_inbox(self) -> bool {
        matches!(self, Role::AgencyOfficer | Role::AgencyAdmin)
    }
}
