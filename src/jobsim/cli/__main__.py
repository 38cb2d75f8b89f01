from jobsim.cli import run

run()
