//! The domain model of an alert body (pupil, school, concern, travel, family, actions taken) and its split into sealed sections.
