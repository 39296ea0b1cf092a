"""Play greedy episodes (the most likely action, or the mean) with a saved actor-critic, rebuilt from the checkpoint alone.

    python part4_actor_critic/test.py models/part4_actor_critic/CartPole-v1__a2c.pth --episodes 20
    python part4_actor_critic/test.py MODEL.pth --render human     # watch it (needs a display)
    python part4_actor_critic/test.py MODEL.pth --gif run.gif      # the first --gif-episodes episodes
"""
import json
import os
import sys
from dataclasses import fields

import torch

from agent import Agent
from train import ALGOS, Config, make_env
from plumbing import ArgumentParser, UserError, gif_path, load_checkpoint, quiet_sdl, run_main, seed_value


def rebuild(path, render_mode=None):
    """(agent, env, checkpoint): the env and the actor-critic exactly as the checkpoint's config describes."""
    checkpoint = load_checkpoint(path, ALGOS)
    names = {f.name for f in fields(Config)}
    config = Config(**{k: v for k, v in checkpoint["config"].items() if k in names})
    env = make_env(config, render_mode=render_mode)
    agent = Agent(config, env.observation_space, env.action_space)
    try:
        agent.load(checkpoint)
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0]
        raise UserError(f"{str(path)!r}: its weights do not fit a network of sizes {config.hidden} for "
                        f"{config.env_id} ({first})") from None
    return agent, env, checkpoint


def save_gif(frames, path, fps=30):
    """Write rendered RGB frames as an animated GIF (Pillow comes with matplotlib)."""
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    try:
        images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    except OSError as e:
        raise UserError(f"cannot write {path!r}: {e.strerror or e}") from None


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a .pth file written by train.py")
    parser.add_argument("--episodes", type=int, default=10, help="greedy episodes to play")
    parser.add_argument("--seed", type=seed_value, default=12345, help="seed of the first reset")
    parser.add_argument("--render", choices=["human"], help="open a window and show the episodes")
    parser.add_argument("--gif", metavar="PATH", help="record the first --gif-episodes episodes as a GIF")
    parser.add_argument("--gif-episodes", type=int, default=1, help="episodes recorded by --gif")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {args.episodes}")
    if args.gif_episodes < 1:
        raise UserError(f"--gif-episodes must be at least 1, got {args.gif_episodes}")
    if args.gif:
        args.gif = gif_path(args.gif)
    if args.render and sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("--render human needs a display; on a headless machine use --gif PATH instead")
    quiet_sdl(args.render)
    torch.set_num_threads(1)
    render_mode = "human" if args.render else ("rgb_array" if args.gif else None)
    agent, env, checkpoint = rebuild(args.model, render_mode)
    frames = []

    def grab(episode):  # called after every step: record the first --gif-episodes episodes only
        if episode < args.gif_episodes:
            frames.append(env.render())

    mean, std = agent.evaluate(env, args.episodes, seed=args.seed, on_frame=grab if args.gif else None)
    env.close()
    if args.gif:
        save_gif(frames, args.gif, fps=env.metadata.get("render_fps", 30))
    config = checkpoint["config"]
    result = dict(env_id=config["env_id"], algo=checkpoint["algo"], shared=config["shared"], episodes=args.episodes,
                  mean=round(mean, 2), std=round(std, 2), trained_steps=checkpoint["step"])
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{config['env_id']} ({checkpoint['algo']}): mean return {mean:.1f} ± {std:.1f} over {args.episodes} "
              f"greedy episodes")


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")  # Ctrl-C or SIGTERM: one line, exit 130, no traceback
