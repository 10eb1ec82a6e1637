"""A tiny web service for the debugger tests: a handler with locals worth looking at."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/hello/{name}")
def hello(name: str) -> dict[str, str]:
    greeting = f"hello {name}"  # a breakpoint here sees `name` and `greeting`
    count = len(name)
    return {"greeting": greeting, "count": str(count)}
