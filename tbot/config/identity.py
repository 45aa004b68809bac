"""The bot's identity: four codes that together name the bot and every file it owns.

They come from `storage/secrets/bot_identity.json.enc`. Underscore separates the codes in
file names, so a code may not contain one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

CODE_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,15}$"
CODE_RULE = "1-16 characters: upper-case letters, digits or '-', starting with a letter or digit"


class BotIdentity(BaseModel):
    """ENTITY_CODE, JURISDICTION_CODE, BROKER_CODE and BOT_ID, as written in the identity file."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    entity_code: str = Field(alias="ENTITY_CODE", pattern=CODE_PATTERN)
    jurisdiction_code: str = Field(alias="JURISDICTION_CODE", pattern=CODE_PATTERN)
    broker_code: str = Field(alias="BROKER_CODE", pattern=CODE_PATTERN)
    bot_id: str = Field(alias="BOT_ID", pattern=CODE_PATTERN)

    @property
    def bot_identity(self) -> str:
        """The file-name stem ``{ENTITY_CODE}_{JURISDICTION_CODE}_{BROKER_CODE}_{BOT_ID}``."""
        return f"{self.entity_code}_{self.jurisdiction_code}_{self.broker_code}_{self.bot_id}"

    def as_file_dict(self) -> dict[str, str]:
        """The identity as it is stored in `bot_identity.json.enc`."""
        return self.model_dump(by_alias=True)
