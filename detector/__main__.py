from detector.cli import app

app(prog_name="detector")
