from .cmdline import main

main(prog_name="rtpengined")
