"""The baseline of the HTTP benchmark: a FastAPI endpoint that does nothing."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/noop")
def noop() -> dict:
    return {"status": "ok"}
