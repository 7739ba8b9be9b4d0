"""An input model whose own check raises TypeError, outside pydantic's error wrapping."""

from pydantic import BaseModel, field_validator

from tokenworks import blocks, hookimpl


class PickyInput(BaseModel):
    text: str = "ok"

    @field_validator("text", mode="plain")
    @classmethod
    def _picky(cls, value: object) -> str:
        if value == "boom":
            raise TypeError("cannot compare that")
        return str(value)


def picky(request: PickyInput) -> list[blocks.Block]:
    """Echo the text."""
    return [blocks.Markdown(text=request.text)]


@hookimpl
def register_functions(register):
    register(picky, title="Picky", cost=1, returns=["markdown"], examples=[{"text": "ok"}])
