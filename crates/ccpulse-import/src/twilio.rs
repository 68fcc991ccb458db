//! Twilio.
