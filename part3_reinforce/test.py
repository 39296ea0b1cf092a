"""Play greedy episodes (argmax or mean action) with a saved REINFORCE policy, rebuilt from the checkpoint alone.

    python part3_reinforce/test.py models/part3_reinforce/CartPole-v1__reinforce_value.pth --episodes 20
    python part3_reinforce/test.py MODEL.pth --render human     # watch it (needs a display)
    python part3_reinforce/test.py MODEL.pth --gif run.gif               # one episode; --gif-episodes N for more
"""
import argparse
import json
import os
import sys
from dataclasses import fields

import torch

from agent import Agent
from plumbing import ArgumentParser, UserError, gif_path, load_checkpoint, quiet_sdl, run_main, seed_value
from train import ALGO, Config, make_env


def rebuild(path, render_mode=None, device="cpu"):
    """(agent, env, checkpoint): the env and the policy exactly as the checkpoint's config describes."""
    checkpoint = load_checkpoint(path, (ALGO,))
    names = {f.name for f in fields(Config)}
    config = Config(**{k: v for k, v in checkpoint["config"].items() if k in names})
    config.baseline = "none"  # playing needs no value network
    env = make_env(config, render_mode=render_mode)
    agent = Agent(config, env.observation_space, env.action_space, device)
    try:
        agent.policy.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()[0]
        raise UserError(f"{path!r}: its weights do not fit a policy of sizes {config.hidden} for {config.env_id} ({first})") from None
    return agent, env, checkpoint


def save_gif(frames, path, fps=30):
    """Write rendered RGB frames as an animated GIF (Pillow comes with matplotlib)."""
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("model", help="a .pth file written by train.py")
    parser.add_argument("--episodes", type=int, default=10, help="greedy episodes to play and score")
    parser.add_argument("--seed", type=seed_value, default=12345, help="seed of the first reset")
    parser.add_argument("--render", choices=["human"], help="open a window and show the episodes")
    parser.add_argument("--gif", metavar="PATH", help="also record greedy episodes (the first ones, same seed) as a GIF")
    parser.add_argument("--gif-episodes", type=int, default=1, help="how many episodes the GIF records")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args(argv)
    for name in ("episodes", "gif_episodes"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.gif:  # fail now, not after playing every episode
        args.gif = gif_path(args.gif)
    if args.render and sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("--render human needs a display; on a headless machine use --gif PATH instead")
    torch.set_num_threads(1)
    quiet_sdl(args.render)
    agent, env, checkpoint = rebuild(args.model, "human" if args.render else None)
    config = checkpoint["config"]
    if not args.json:
        print(f"playing {args.episodes} greedy episodes of {config['env_id']} with {args.model}", flush=True)
    mean, std = agent.evaluate(env, args.episodes, seed=args.seed)  # scored without rendering (faster)
    env.close()
    result = dict(env_id=config["env_id"], preset=config["preset"], episodes=args.episodes, mean=round(mean, 2),
                  std=round(std, 2), trained_steps=checkpoint["step"])
    if args.gif:
        # the same greedy policy from the same first seed: the GIF shows the first scored episodes
        gif_env = make_env(agent.config, render_mode="rgb_array")
        frames = []
        agent.evaluate(gif_env, args.gif_episodes, seed=args.seed, on_frame=lambda: frames.append(gif_env.render()))
        gif_env.close()
        save_gif(frames, args.gif, fps=gif_env.metadata.get("render_fps", 30))
        result.update(gif=str(args.gif), gif_episodes=args.gif_episodes, gif_frames=len(frames))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{config['env_id']} ({config['preset']}): mean return {mean:.1f} ± {std:.1f} over {args.episodes} greedy episodes"
              + (f"; {args.gif_episodes} episode(s), {len(frames)} frames, written to {args.gif}" if args.gif else ""))


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")  # Ctrl-C or SIGTERM: one line, exit 130, no traceback
