//! Meaning anchors that do not come from the rubric: the parts of a good
//! objection answer and the two tones. Each is a small set of phrasings; a
//! sentence matches a part when its meaning is close to any of them.

/// Acknowledging the buyer's concern before answering it.
pub const ACKNOWLEDGE: &[&str] = &[
    "I understand that concern.",
    "That's a fair point, and I hear you.",
    "I completely understand why that worries you.",
    "That's a really good question, and a lot of our customers ask it.",
    "You're right to raise that.",
];

/// Checking back with the buyer after answering.
pub const CHECK_BACK: &[&str] = &[
    "Does that address your concern?",
    "Does that answer your question?",
    "How does that sound to you?",
    "Would that work for your team?",
    "Does that make sense for you?",
    "Is that a fair way to look at it?",
];

/// Consultative selling: curiosity about the buyer's situation.
pub const CONSULTATIVE: &[&str] = &[
    "What does your current process look like today?",
    "Can you tell me more about what your team is struggling with?",
    "What matters most to you in choosing a solution?",
    "How are you handling this at the moment?",
    "I'd like to understand your goals before I suggest anything.",
];

/// Hard selling: pressure, urgency and claims without regard for the buyer.
pub const HARD_SELL: &[&str] = &[
    "You need to sign today before the price goes up.",
    "This offer expires at the end of the day, so decide now.",
    "Trust me, you would be crazy not to buy this.",
    "Every other company is buying it, you can't afford to miss out.",
    "Just sign the contract and stop worrying about it.",
];
