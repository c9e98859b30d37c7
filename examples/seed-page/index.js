//Client-side

//Address of the server
const socket = io("http://localhost:3000");

// socket.on("connect", (response) => {
//   console.log("Response : ", response);
// });

socket.on("connect", () => {});

//Receving the server message
socket.on("message", (err, data) => {
  if (err) {
    console.log(err);
  } else {
    console.log("Message from the server : ", data);
  }
});

//Reveving the server message
//Here, "server-message" is an event-key which should be equal as server event-key.
socket.on("server-message", (err, data) => {
  if (err) {
    console.log(err);
  } else {
    console.log("Message from the server : ", data);
  }
});

//Emiting message from client to the server
socket.emit("client-message", "Hello there! My name is Laxman");
