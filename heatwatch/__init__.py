"""HeatWatch's roof: the composition root (`server.create_app`) and the command-line tools
(`python -m heatwatch <command>`). Everything below is built here and nowhere else."""
