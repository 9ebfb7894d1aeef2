//! The pages' ports ([`Authenticator`](super::Authenticator) and
//! [`ProgramPages`](super::ProgramPages)) implemented over the real service: the API's
//! token store and the certification module. `pitchgrade serve` wires these;
//! page tests may still use `StaticTokens` and `NoProgram`.

mod certify;
mod tokens;

pub use certify::CertifyProgram;
pub use tokens::ApiTokens;
