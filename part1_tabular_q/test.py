"""Play greedy episodes with a saved Q-table or linear Q model, rebuilt from the checkpoint file alone.

    python part1_tabular_q/test.py models/part1_tabular_q/FrozenLake-v1__q_table.pth --episodes 1000
    python part1_tabular_q/test.py MODEL.pth --render human        # watch it (needs a display)
    python part1_tabular_q/test.py MODEL.pth --gif run.gif --plot table.png   # GIF of the first episode
"""
import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

from agent import QLearningAgent, evaluate
from linear_q import LinearConfig, LinearQAgent
from linear_q import make_env as make_linear_env
from plots import plot_table
from plumbing import (ArgumentParser, UserError, check_writable, gif_path, load_checkpoint, quiet_sdl, run_main,
                      seed_value)
from train import Config, make_env

# algo -> (config class, env factory, agent class, checkpoint key of the weights)
ALGOS = {"q_table": (Config, make_env, QLearningAgent, "table"),
         "linear_q": (LinearConfig, make_linear_env, LinearQAgent, "weights")}
MAX_FRAMES = 2000  # a safety cap on the GIF's memory (a 500x500 frame is 0.75 MB)


def rebuild(path, render_mode=None):
    """(agent, env, checkpoint) rebuilt from a checkpoint file of either algorithm of this part."""
    checkpoint = load_checkpoint(path, tuple(ALGOS))
    config_class, make, agent_class, key = ALGOS[checkpoint["algo"]]
    names = {f.name for f in fields(config_class)}
    config = config_class(**{k: v for k, v in checkpoint["config"].items() if k in names})
    env = make(config, render_mode=render_mode)
    table = checkpoint[key].numpy()
    space = env.observation_space
    n_inputs = space.n if hasattr(space, "n") else space.shape[0]  # states for a table, features for linear
    if table.shape != (n_inputs, env.action_space.n):
        raise UserError(f"{path!r}: a model of shape {tuple(table.shape)} does not fit {config.env_id}, "
                        f"which has {n_inputs} states/features and {env.action_space.n} actions")
    agent = agent_class(n_inputs, env.action_space.n, seed=config.seed)
    agent.q_table[:] = table
    return agent, env, checkpoint


def save_gif(frames, path, fps=30):
    """Write rendered RGB frames as an animated GIF (Pillow comes with matplotlib)."""
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("model", help="a .pth file written by train.py or linear_q.py")
    parser.add_argument("--episodes", type=int, default=100, help="greedy episodes to play")
    parser.add_argument("--seed", type=seed_value, default=12345, help="seed of the first reset")
    parser.add_argument("--render", choices=["human"], help="open a window and show the episodes")
    parser.add_argument("--gif", metavar="PATH", help="write the first --gif-episodes episodes as an animated GIF")
    parser.add_argument("--gif-episodes", type=int, default=1, help=f"episodes recorded by --gif (at most {MAX_FRAMES} frames)")
    parser.add_argument("--plot", metavar="PATH", help="FrozenLake: policy over the map; Pendulum: value map")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args(argv)
    for name in ("episodes", "gif_episodes"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.render and sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("--render human needs a display; on a headless machine use --gif PATH instead")
    if args.gif:  # fail now, not after playing every episode
        args.gif = gif_path(args.gif)
    if args.plot:
        check_writable(Path(args.plot).resolve().parent, "plot")
    render_mode = "human" if args.render else ("rgb_array" if args.gif else None)
    quiet_sdl(render_mode)
    agent, env, checkpoint = rebuild(args.model, render_mode)
    frames = []

    def grab(episode):  # the first --gif-episodes episodes only: a GIF, not a film
        if episode < args.gif_episodes and len(frames) < MAX_FRAMES:
            frames.append(env.render())

    mean, std, success = evaluate(agent.greedy_action, env, args.episodes, seed=args.seed,
                                  on_frame=grab if args.gif else None)
    env.close()
    if args.gif:
        save_gif(frames, args.gif, fps=env.metadata.get("render_fps", 30))
    if args.plot and not plot_table(agent.q_table, env, args.plot):
        print(f"(no plot for {checkpoint['config']['env_id']}: plots exist for FrozenLake and Pendulum)")

    env_id = checkpoint["config"]["env_id"]
    result = dict(env_id=env_id, algo=checkpoint["algo"], episodes=args.episodes, mean=round(mean, 4),
                  std=round(std, 4), success_rate=round(success, 4), trained_steps=checkpoint["step"])
    if args.json:
        print(json.dumps(result))
    else:
        line = f"{env_id}: mean return {mean:.3f} ± {std:.3f} over {args.episodes} greedy episodes"
        if env_id.startswith("FrozenLake"):
            line += f", success rate {success:.3f}"
        print(line)


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")  # Ctrl-C or SIGTERM: one line, exit 130, no traceback
