/** The SFTP session of the current connection, or the fallback when the server has none. */
import type { SFTPWrapper } from "ssh2";
import { CommunicatorError } from "../errors.js";
import { describeError } from "./errors.js";
import type { SSHLink } from "./link.js";

function getSftp(link: SSHLink): Promise<SFTPWrapper> {
  const client = link.requireClient("transfer files");
  if (!link.sftpSession) {
    const p = new Promise<SFTPWrapper>((resolve, reject) => {
      client.sftp((err, sftp) => {
        if (err) {
          reject(
            new CommunicatorError(
              "KILN_SSH_TRANSFER_FAILED",
              `could not start SFTP on ${link.target}: ${describeError(err)}`,
              {
                cause: err,
                hint: "the server needs an SFTP subsystem (OpenSSH's sftp-server, or openssh-sftp-server for dropbear)",
              },
            ),
          );
          return;
        }
        sftp.on("close", () => {
          if (link.sftpSession === p) link.sftpSession = undefined;
        });
        resolve(sftp);
      });
    });
    p.catch(() => {
      if (link.sftpSession === p) link.sftpSession = undefined;
    });
    link.sftpSession = p;
  }
  return link.sftpSession;
}

/** The SFTP session, or undefined when the server has no SFTP subsystem (then files go through a remote `cat`). */
export async function sftpOrFallback(link: SSHLink): Promise<SFTPWrapper | undefined> {
  if (link.noSftp) return undefined;
  try {
    return await getSftp(link);
  } catch (err) {
    if (!link.connected || !CommunicatorError.is(err, "KILN_SSH_TRANSFER_FAILED")) throw err;
    link.noSftp = true;
    link.log(`${link.target} offers no SFTP; copying files through a remote shell (cat) instead`);
    return undefined;
  }
}

export async function requireSftp(link: SSHLink, what: string): Promise<SFTPWrapper> {
  const sftp = await sftpOrFallback(link);
  if (!sftp) {
    throw new CommunicatorError(
      "KILN_SSH_TRANSFER_FAILED",
      `${what} needs SFTP, which ${link.target} does not offer`,
      {
        hint: "install an SFTP server on the machine (openssh-sftp-server), or copy single files",
      },
    );
  }
  return sftp;
}
